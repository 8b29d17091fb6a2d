namespace FastMap.Stress.Run;

/// <summary>
/// Long-lived measuring threads. Reusing them keeps per-thread state in the systems (epoch slots, thread-local
/// caches) from growing with the number of measurements, and costs no thread start inside a measurement.
/// </summary>
public sealed class Workers : IDisposable
{
    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _go;
    private readonly CountdownEvent _done = new(1);
    private Action<int>? _work;
    private volatile bool _stop;
    private Exception? _error;

    public Workers(int count)
    {
        _threads = new Thread[count];
        _go = new SemaphoreSlim[count];
        for (int i = 0; i < count; i++)
        {
            int id = i;
            _go[i] = new SemaphoreSlim(0);
            _threads[i] = new Thread(() => Loop(id)) { IsBackground = true, Name = $"stress-{id}" };
            _threads[i].Start();
        }
    }

    public int Count => _threads.Length;

    private void Loop(int id)
    {
        while (true)
        {
            _go[id].Wait();
            if (_stop) return;
            try { _work!(id); }
            catch (Exception e) { _error ??= e; }
            finally { _done.Signal(); }
        }
    }

    /// <summary>Runs work(0..count-1) on the first count workers and waits for all of them.</summary>
    public void Run(int count, Action<int> work)
    {
        _work = work;
        _error = null;
        _done.Reset(count);
        for (int i = 0; i < count; i++) _go[i].Release();
        _done.Wait();
        if (_error is not null) throw new InvalidOperationException("a measuring thread failed", _error);
    }

    public void Dispose()
    {
        _stop = true;
        foreach (var g in _go) g.Release();
        foreach (var t in _threads) t.Join();
    }
}
