using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FastMap.Internal;

/// <summary>
/// The control block of a group (and of an overflow record): 16 bytes, read with one
/// <see cref="Vector128"/> load, so a reader sees every tag and the word in one snapshot.
/// </summary>
/// <remarks>
/// <code>
/// [0..11)  tags, one a slot:  0x00 empty | 0x01..0x7E limbo, stamped with its retire epoch
///                             0x7F no slot here (a small group's unused tags) | 0x80 | h7  live
/// [11]     outbound count:    keys whose group is this one or an earlier one, placed past it
/// [12..16) word W:            [31..2 version][1 ext][0 lock]
/// </code>
/// <para>The outbound count is F14's "reference-counted tombstone": an insert that passes a full group
/// adds one to it, the delete of that key takes it off again, so a map that deletes a third of its keys
/// every GC pass never needs a rebuild. A lookup goes on to the next group only while it is nonzero.</para>
/// <para>lock: held by the writer of the group (a main group's lock also covers its overflow records,
/// whose own lock bit is unused). ext: the group has overflow records (readers that miss follow
/// them). version: odd while a value of this block's entries is being overwritten in place; +1 before,
/// +1 after. A copying reader retries when the version it read with the tags is odd or has moved.</para>
/// </remarks>
internal static class Group
{
    /// <summary>Slot tags in a control block.</summary>
    public const int Tags = 11;
    /// <summary>Where the outbound count sits.</summary>
    public const int CountOffset = 11;
    /// <summary>Bytes of a control block.</summary>
    public const int CtrlBytes = 16;
    /// <summary>Where the word W sits.</summary>
    public const int WordOffset = 12;
    /// <summary>The tag bits of a match mask.</summary>
    public const uint TagMask = (1u << Tags) - 1;

    /// <summary>A slot never used (or freed): inserts take it.</summary>
    public const byte Empty = 0x00;
    /// <summary>Not a slot: a group with fewer than <see cref="Tags"/> slots marks the rest so.</summary>
    public const byte NoSlot = 0x7F;
    /// <summary>The bit of a live tag; the other seven are hash bits.</summary>
    public const byte Live = 0x80;

    /// <summary>W: the group's writer lock.</summary>
    public const uint Lock = 1;
    /// <summary>W: the group has overflow records.</summary>
    public const uint Ext = 2;
    /// <summary>W: one step of the version.</summary>
    public const uint Version = 4;

    // Limbo stamps 1..126 encode the retire epoch mod 126.
    private const int Stamps = 126;

    /// <summary>The limbo tag of a slot retired at <paramref name="epoch"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Limbo(long epoch) => (byte)(1 + (int)((ulong)epoch % Stamps));

    /// <summary>True for a limbo tag.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsLimbo(byte tag) => tag is > Empty and < NoSlot;

    /// <summary>
    /// True if a slot in limbo with <paramref name="tag"/> may be reused when the global epoch is
    /// <paramref name="global"/>: <c>global - e &gt;= 2</c> (Epoch rule 4). From the stamp only
    /// <c>(global - e) mod 126</c> is known; reading 0 or 1 is taken as unsafe, which is exact when the true
    /// distance is small and merely conservative (the slot waits for another advance) when it wrapped.
    /// Precondition: <c>global &gt;= e</c>, that is, <paramref name="global"/> was read after the stamp was
    /// written (after taking the lock it was written under). A reading older than the stamp would wrap to
    /// a large distance and call a fresh limbo slot safe.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool LimboSafe(byte tag, long global)
    {
        int d = (int)((ulong)global % Stamps) - (tag - 1);
        if (d < 0)
            d += Stamps;
        return d >= 2;
    }

    /// <summary>The word W of a control block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe ref uint Word(byte* ctrl) => ref *(uint*)(ctrl + WordOffset);

    /// <summary>Tags equal to <paramref name="tag"/> in a snapshot, as a bit mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Match(Vector128<byte> ctrl, Vector128<byte> tag) =>
        Vector128.Equals(ctrl, tag).ExtractMostSignificantBits() & TagMask;

    /// <summary>Live tags in a snapshot, as a bit mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint LiveMask(Vector128<byte> ctrl) => ctrl.ExtractMostSignificantBits() & TagMask;

    /// <summary>The word W in a snapshot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint WordOf(Vector128<byte> ctrl) => ctrl.AsUInt32().GetElement(3);

    /// <summary>True if two readings of W show the same version (lock and ext bits aside).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool SameVersion(uint a, uint b) => ((a ^ b) & ~(Lock | Ext)) == 0;

    /// <summary>The outbound count in a snapshot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte CountOf(Vector128<byte> ctrl) => ctrl.GetElement(CountOffset);

    /// <summary>Initialises a control block with <paramref name="slots"/> empty slots and the rest marked absent.</summary>
    public static unsafe void Init(byte* ctrl, int slots)
    {
        for (int i = 0; i < Tags; i++)
            ctrl[i] = i < slots ? Empty : NoSlot;
        ctrl[CountOffset] = 0;
        Word(ctrl) = 0;
    }
}
