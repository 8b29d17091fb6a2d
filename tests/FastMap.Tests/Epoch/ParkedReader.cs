namespace FastMap.Tests.Epoch;

/// <summary>
/// A thread that enters a read-side section and stays in it until released: it pins the epoch it
/// announced, as a slow reader would. Optionally it holds one key's value in place
/// (<see cref="BpfMap.LookupInPlace"/>) and can be asked, while parked, whether those bytes changed.
/// </summary>
internal sealed class ParkedReader : IDisposable
{
    private enum Command { None, Check, Leave }

    private readonly Thread _thread;
    private readonly SemaphoreSlim _command = new(0);
    private readonly SemaphoreSlim _answered = new(0);
    private readonly ManualResetEventSlim _parked = new();
    private Command _next;
    private bool _unchanged;
    private Exception? _failure;

    /// <summary>Starts the thread and returns once it is inside its section (and holds the value, if asked).</summary>
    public ParkedReader(BpfMap? map = null, ulong? key = null, int nesting = 1)
    {
        _thread = new Thread(() => Run(map, key, nesting)) { IsBackground = true, Name = "parked-reader" };
        _thread.Start();
        _parked.Wait();
        if (_failure is not null)
            throw new InvalidOperationException("parked reader failed to park", _failure);
    }

    /// <summary>The global epoch read just after the reader entered: its announced epoch is at most this.</summary>
    public long EpochAfterEnter { get; private set; }

    /// <summary>The held value's bytes when the reader parked (null if it holds none or the key was absent).</summary>
    public byte[]? Held { get; private set; }

    /// <summary>True while the reader is inside its section.</summary>
    public bool IsParked { get; private set; }

    /// <summary>Asks the parked thread to re-read its in-place value: true if the bytes are as they were.</summary>
    public bool HeldBytesUnchanged()
    {
        if (!IsParked)
            throw new InvalidOperationException("the reader already left its section");
        _next = Command.Check;
        _command.Release();
        _answered.Wait();
        return _unchanged;
    }

    /// <summary>Leaves the section and ends the thread (idempotent).</summary>
    public void Release()
    {
        if (!IsParked)
            return;
        _next = Command.Leave;
        _command.Release();
        _thread.Join();
        IsParked = false;
        if (_failure is not null)
            throw new InvalidOperationException("parked reader failed", _failure);
    }

    public void Dispose() => Release();

    private void Run(BpfMap? map, ulong? key, int nesting)
    {
        try
        {
            for (int i = 0; i < nesting; i++)
                Internal.Epoch.Enter();
            EpochAfterEnter = Internal.Epoch.Current;
            Span<byte> held = default;
            if (map is not null && key is ulong k)
            {
                held = map.LookupInPlace(BitConverter.GetBytes(k));
                Held = held.IsEmpty ? null : held.ToArray();
            }
            IsParked = true;
            _parked.Set();
            while (true)
            {
                _command.Wait();
                if (_next == Command.Leave)
                    break;
                _unchanged = Held is null || held.SequenceEqual(Held);
                _answered.Release();
            }
            for (int i = 0; i < nesting; i++)
                Internal.Epoch.Exit();
        }
        catch (Exception e)
        {
            _failure = e;
            _parked.Set();
        }
    }
}
