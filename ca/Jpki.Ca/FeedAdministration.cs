using System.Text.Json.Nodes;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Revocation;
using Jpki.Core.Store;

namespace Jpki.Ca;

/// <summary>
/// What officers see and decide about the Juki-Net feed: its position and alarms, the gaps
/// (closing one is a recorded decision), the quarantine, and the two kill switches — stop the
/// feed, stop issuance — each change an audit record in the same transaction.
/// </summary>
public sealed class FeedAdministration(CaServices services, FeedHealth health, Accounts.DualControl dual)
{
    public sealed record CloseGapRequest(string? Reason);

    public sealed record SwitchRequest(bool? Stopped, string? Reason);

    /// <summary><c>GET /api/v1/feed</c>: position, lag, health, open gaps, quarantine size.</summary>
    public IResult Status()
    {
        using var db = services.Database.OpenConnection();
        var position = JukiNetFeedStore.ReadPosition(db);
        var snapshot = health.Current;
        return Results.Json(
            new FeedStatusAnswer(
                snapshot.State,
                snapshot.Healthy,
                position.Cursor,
                position.FeedLast,
                Math.Max(0, position.FeedLast - position.Cursor),
                position.LastEventUs is { } us ? Instant.FromMicros(us) : null,
                snapshot.LastPollOk,
                snapshot.LastError,
                snapshot.GapAlarm,
                snapshot.SilenceAlarm,
                [.. JukiNetFeedStore.ListGaps(db, openOnly: true).Select(GapJson)],
                JukiNetFeedStore.IsStopped(db, JukiNetFeedStore.FeedSwitch),
                JukiNetFeedStore.IsStopped(db, JukiNetFeedStore.IssuanceSwitch)),
            ApiJson.Options);
    }

    /// <summary><c>GET /api/v1/feed/gaps</c>: every gap, closed ones with who closed them and why.</summary>
    public IResult Gaps()
    {
        using var db = services.Database.OpenConnection();
        return Results.Json(JukiNetFeedStore.ListGaps(db, openOnly: false).Select(GapJson), ApiJson.Options);
    }

    /// <summary><c>GET /api/v1/feed/quarantine</c>: the newest malformed entries (codes already hashed).</summary>
    public IResult Quarantine()
    {
        using var db = services.Database.OpenConnection();
        return Results.Json(
            JukiNetFeedStore.ListQuarantine(db, 500).Select(q => new QuarantineAnswer(q.Id, q.Sequence, q.Reason, q.RedactedJson, Instant.FromMicros(q.ReceivedUs))),
            ApiJson.Options);
    }

    /// <summary><c>POST /api/v1/feed/gaps/{id}/close</c> <c>{ reason }</c>: an officer closes a gap that will not be filled.</summary>
    public async Task<IResult> CloseGapAsync(long id, HttpContext context, Account officer)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(officer);
        var (body, _, problem) = await ApiJson.ReadAsync<CloseGapRequest>(context.Request);
        return body is null ? problem! : await CloseGapAsync(id, body.Reason, officer, context.RequestAborted);
    }

    /// <summary>The decision itself, whoever asks for it (the API above, the officer console's form): the same checks, the same audit record.</summary>
    public async Task<IResult> CloseGapAsync(long id, string? reason, Account officer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(officer);
        if (reason?.Trim() is not { Length: >= 3 and <= 1000 } because)
        {
            return ProblemTypes.Problem(422, ProblemTypes.InvalidRequest, "invalid request", "reason (3-1000 characters) must say why the gap is closed");
        }

        using var tx = await services.Database.BeginWriteAsync(cancellationToken);
        var gap = JukiNetFeedStore.CloseGap(tx, id, officer.Id, because, Instant.NowMicros(services.Options.Time));
        if (gap is null)
        {
            return ProblemTypes.Problem(404, ProblemTypes.GapNotFound, "no such open gap", "no open gap with this id");
        }

        services.Audit.Append(tx, new AuditRecord(officer.Id, "jukinet.gap-closed", $"jukinet:{gap.FirstSequence}-{gap.LastSequence}", new JsonObject
        {
            ["gapId"] = gap.Id,
            ["reason"] = because,
        }));
        await tx.CommitAsync(cancellationToken);
        return Results.Json(GapJson(gap), ApiJson.Options);
    }

    /// <summary><c>GET /api/v1/switches</c>.</summary>
    public IResult Switches()
    {
        using var db = services.Database.OpenConnection();
        return Results.Json(new[] { JukiNetFeedStore.FeedSwitch, JukiNetFeedStore.IssuanceSwitch }.Select(name => SwitchJson(name, JukiNetFeedStore.FindSwitch(db, name))), ApiJson.Options);
    }

    /// <summary><c>PUT /api/v1/switches/{feed|issuance}</c> <c>{ stopped, reason }</c>: a recorded decision; a release (stopped false) is a dual-control request.</summary>
    public async Task<IResult> SetSwitchAsync(string name, HttpContext context, Account officer)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (UnknownSwitch(name) is { } unknown)
        {
            return unknown;
        }

        var (body, _, problem) = await ApiJson.ReadAsync<SwitchRequest>(context.Request);
        return body is null ? problem! : await SetSwitchAsync(name, body.Stopped, body.Reason, officer, context.RequestAborted);
    }

    /// <summary>The decision itself, whoever asks for it (the API above, the officer console's form): the same checks, the same audit record.</summary>
    public async Task<IResult> SetSwitchAsync(string name, bool? stopped, string? reason, Account officer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(officer);
        if (UnknownSwitch(name) is { } unknown)
        {
            return unknown;
        }

        if (stopped is not { } stop || reason?.Trim() is not { Length: >= 3 and <= 1000 } because)
        {
            return ProblemTypes.Problem(422, ProblemTypes.InvalidRequest, "invalid request", "give stopped (true|false) and a reason (3-1000 characters)");
        }

        if (!stop)
        {
            // Pulling a switch is an emergency brake any officer may pull; releasing it is dual control.
            return await dual.RequestAsync(Jpki.Core.Accounts.ApprovalAction.SwitchRelease, name, new JsonObject { ["reason"] = because }, officer, cancellationToken);
        }

        using var tx = await services.Database.BeginWriteAsync(cancellationToken);
        JukiNetFeedStore.SetSwitch(tx, name, stop, officer.Id, because, Instant.NowMicros(services.Options.Time));
        services.Audit.Append(tx, new AuditRecord(officer.Id, "switch.stopped", name, new JsonObject { ["reason"] = because }));
        await tx.CommitAsync(cancellationToken);
        using var db = services.Database.OpenConnection();
        return Results.Json(SwitchJson(name, JukiNetFeedStore.FindSwitch(db, name)), ApiJson.Options);
    }

    private static IResult? UnknownSwitch(string name) =>
        name is JukiNetFeedStore.FeedSwitch or JukiNetFeedStore.IssuanceSwitch
            ? null
            : ProblemTypes.Problem(404, ProblemTypes.UnknownSwitch, "no such switch", "the switches are 'feed' and 'issuance'");

    private static GapAnswer GapJson(FeedGap gap) => new(
        gap.Id,
        gap.FirstSequence,
        gap.LastSequence,
        Instant.FromMicros(gap.OpenedUs),
        gap.AlarmedUs is { } a ? Instant.FromMicros(a) : null,
        gap.ClosedUs is { } c ? Instant.FromMicros(c) : null,
        gap.ClosedBy,
        gap.CloseReason);

    private static SwitchAnswer SwitchJson(string name, KillSwitch? current) =>
        new(name, current?.IsStopped ?? false, current?.ChangedBy, current?.Reason, current is null ? null : Instant.FromMicros(current.ChangedUs));
}

/// <summary>The answer of <c>GET /api/v1/feed</c>: the cursor, the feed's last sequence, lag, health, open gaps and the switches.</summary>
public sealed record FeedStatusAnswer(
    string State,
    bool Healthy,
    long Cursor,
    long FeedLast,
    long Lag,
    DateTimeOffset? LastEventAt,
    DateTimeOffset? LastPollOk,
    string? LastError,
    bool GapAlarm,
    bool SilenceAlarm,
    IReadOnlyList<GapAnswer> OpenGaps,
    bool FeedStopped,
    bool IssuanceStopped);

/// <summary>A gap in the feed's sequence; a closed one says who closed it and why.</summary>
public sealed record GapAnswer(long Id, long FirstSequence, long LastSequence, DateTimeOffset OpenedAt, DateTimeOffset? AlarmedAt, DateTimeOffset? ClosedAt, string? ClosedBy, string? CloseReason);

/// <summary>A malformed feed entry kept aside (<c>entry</c>: its JSON with resident codes hashed).</summary>
public sealed record QuarantineAnswer(long Id, long? Sequence, string Reason, string Entry, DateTimeOffset ReceivedAt);

/// <summary>A kill switch and its latest recorded decision.</summary>
public sealed record SwitchAnswer(string Name, bool Stopped, string? ChangedBy, string? Reason, DateTimeOffset? ChangedAt);
