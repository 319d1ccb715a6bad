namespace Jpki.JukiNet;

/// <summary>
/// One batch of the change feed. <see cref="Last"/> is the highest sequence the feed holds at
/// the time of the answer (not of this batch), so a subscriber knows how far behind it is.
/// Events that could not be understood are in <see cref="Malformed"/>, not dropped: the
/// subscriber quarantines them and goes on (issue 5).
/// </summary>
/// <remarks>
/// Delivery is at least once and not in order (docs/design.md §5). A batch asked for with
/// <c>after</c> normally holds events above <c>after</c> in sequence order, but it may also hold:
/// late deliveries — events with a sequence ≤ <c>after</c> that were missing from earlier batches
/// (the subscriber saw a gap) and arrive now; repeats of events already delivered, in an earlier
/// batch or twice in this one (same sequence, same content); events in any order; and fewer
/// events than asked for although <see cref="Last"/> is higher. Consumers apply each event
/// idempotently by sequence, advance their cursor to the highest sequence seen (never back), and
/// keep a gap open until its event arrives. Never more entries than the <c>limit</c> asked for.
/// </remarks>
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
