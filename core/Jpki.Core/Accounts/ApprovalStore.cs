using System.Data.Common;
using System.Text.Json.Nodes;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Core.Accounts;

/// <summary>What a dual-control request is about; the wire names are the <c>action</c> column.</summary>
public enum ApprovalAction
{
    /// <summary>Create an officer or auditor account.</summary>
    AccountCreate,

    /// <summary>Enable a disabled officer or auditor.</summary>
    AccountEnable,

    /// <summary>Disable an officer or auditor.</summary>
    AccountDisable,

    /// <summary>Change any account's role.</summary>
    AccountRole,

    /// <summary>Change an operator's municipalities.</summary>
    AccountMunicipalities,

    /// <summary>Register a client certificate of a verifier.</summary>
    VerifierClientCertificate,

    /// <summary>Release a kill switch (issuance or feed) that an officer pulled.</summary>
    SwitchRelease,

    /// <summary>Destroy an issuer key generation's private keys after its root expired (<c>./jpki hsm retire</c>, approved at the HSM console only).</summary>
    IssuerKeyRetire,

    /// <summary>Replace a compromised OCSP responder key and revoke its certificate (<c>./jpki hsm responder-compromise</c>, approved at the HSM console only).</summary>
    ResponderKeyCompromise,

    /// <summary>Hand the audit-checkpoint key over to a new key and destroy it (<c>./jpki hsm checkpoint-compromise</c>, approved at the HSM console only).</summary>
    CheckpointKeyCompromise,
}

public enum ApprovalState
{
    Pending,
    Approved,
    Rejected,
}

/// <summary>One dual-control request as stored.</summary>
public sealed record ApprovalRequest(
    long Id,
    ApprovalAction Action,
    string Subject,
    JsonObject Payload,
    string RequestedBy,
    long RequestedUs,
    long ExpiresUs,
    ApprovalState State,
    string? DecidedBy,
    long? DecidedUs);

/// <summary>The SQL of <c>approval_requests</c>; the states and actions are mapped to their wire names here only.</summary>
public static class ApprovalStore
{
    private const string Columns =
        "id AS Id, action AS Action, subject AS Subject, payload AS Payload, requested_by AS RequestedBy, requested_us AS RequestedUs, expires_us AS ExpiresUs, state AS State, decided_by AS DecidedBy, decided_us AS DecidedUs";

    public static string WireName(ApprovalAction action) => action switch
    {
        ApprovalAction.AccountCreate => "account.create",
        ApprovalAction.AccountEnable => "account.enable",
        ApprovalAction.AccountDisable => "account.disable",
        ApprovalAction.AccountRole => "account.role",
        ApprovalAction.AccountMunicipalities => "account.municipalities",
        ApprovalAction.VerifierClientCertificate => "verifier.client-certificate",
        ApprovalAction.SwitchRelease => "switch.release",
        ApprovalAction.IssuerKeyRetire => "issuer-key.retire",
        ApprovalAction.ResponderKeyCompromise => "ocsp-responder.compromise",
        ApprovalAction.CheckpointKeyCompromise => "audit-checkpoint-key.compromise",
        _ => throw new ArgumentOutOfRangeException(nameof(action)),
    };

    public static string WireName(ApprovalState state) => state switch
    {
        ApprovalState.Pending => "pending",
        ApprovalState.Approved => "approved",
        ApprovalState.Rejected => "rejected",
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };

    /// <summary>Stores a pending request; returns its id.</summary>
    public static long Insert(WriteTransaction tx, ApprovalAction action, string subject, JsonObject payload, string requestedBy, long expiresUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(payload);
        return tx.QuerySingle<long>(
            """
            INSERT INTO approval_requests (action, subject, payload, requested_by, requested_us, expires_us, state)
            VALUES (@action, @subject, @payload, @requestedBy, @requestedUs, @expiresUs, 'pending')
            RETURNING id
            """,
            new { action = WireName(action), subject, payload = payload.ToJsonString(), requestedBy, requestedUs = Instant.NowMicros(tx.Time), expiresUs });
    }

    public static ApprovalRequest? Find(DbConnection db, long id, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<Row>($"SELECT {Columns} FROM approval_requests WHERE id = @id", new { id }, tx)?.ToRequest();

    /// <summary>Pending requests (expired ones included, for the officers to see and reject), newest first.</summary>
    public static IReadOnlyList<ApprovalRequest> List(DbConnection db, ApprovalState? state, int limit) =>
        db.Query<Row>(
                $"SELECT {Columns} FROM approval_requests WHERE (@state IS NULL OR state = @state) ORDER BY id DESC LIMIT @limit",
                new { state = state is { } s ? WireName(s) : null, limit })
            .Select(r => r.ToRequest())
            .ToList();

    /// <summary>Marks a pending request decided; false if it was not pending any more (someone decided first).</summary>
    public static bool Decide(WriteTransaction tx, long id, ApprovalState state, string decidedBy)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Execute(
            "UPDATE approval_requests SET state = @state, decided_by = @decidedBy, decided_us = @decidedUs WHERE id = @id AND state = 'pending'",
            new { id, state = WireName(state), decidedBy, decidedUs = Instant.NowMicros(tx.Time) }) == 1;
    }

    /// <summary>A pending request of this action for this subject, if one is waiting (one at a time).</summary>
    public static long? PendingFor(WriteTransaction tx, ApprovalAction action, string subject, long nowUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.QuerySingleOrDefault<long?>(
            "SELECT id FROM approval_requests WHERE action = @action AND subject = @subject AND state = 'pending' AND expires_us > @nowUs",
            new { action = WireName(action), subject, nowUs });
    }

    /// <summary>The newest approved request of this action for this subject (a retirement approved but cut off before it finished).</summary>
    public static ApprovalRequest? LatestApproved(DbConnection db, ApprovalAction action, string subject, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<Row>(
            $"SELECT {Columns} FROM approval_requests WHERE action = @action AND subject = @subject AND state = 'approved' ORDER BY id DESC LIMIT 1",
            new { action = WireName(action), subject },
            tx)?.ToRequest();

    private sealed class Row
    {
        public long Id { get; set; }

        public string Action { get; set; } = "";

        public string Subject { get; set; } = "";

        public string Payload { get; set; } = "{}";

        public string RequestedBy { get; set; } = "";

        public long RequestedUs { get; set; }

        public long ExpiresUs { get; set; }

        public string State { get; set; } = "";

        public string? DecidedBy { get; set; }

        public long? DecidedUs { get; set; }

        public ApprovalRequest ToRequest() => new(
            Id,
            Enum.GetValues<ApprovalAction>().Single(a => WireName(a) == Action),
            Subject,
            JsonNode.Parse(Payload)?.AsObject() ?? [],
            RequestedBy,
            RequestedUs,
            ExpiresUs,
            Enum.GetValues<ApprovalState>().Single(s => WireName(s) == State),
            DecidedBy,
            DecidedUs);
    }
}
