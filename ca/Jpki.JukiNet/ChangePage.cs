namespace Jpki.JukiNet;

/// <summary>
/// One batch of the change feed. <see cref="Last"/> is the highest sequence the feed holds at
/// the time of the answer (not of this batch), so a subscriber knows how far behind it is.
/// Events that could not be understood are in <see cref="Malformed"/>, not dropped: the
/// subscriber quarantines them and goes on (issue 5).
/// </summary>
public sealed record ChangePage(IReadOnlyList<ChangeEvent> Changes, IReadOnlyList<MalformedChange> Malformed, long Last);

/// <summary>
/// A feed entry that is not a valid <see cref="ChangeEvent"/>. <see cref="RawJson"/> is the entry
/// as received and may hold a resident code in clear: replace it by its keyed hash before storing
/// or logging it.
/// </summary>
public sealed record MalformedChange(long? Sequence, string RawJson, string Reason)
{
    public override string ToString() => $"MalformedChange {{ {Sequence?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "no sequence"}: {Reason} }}";
}
