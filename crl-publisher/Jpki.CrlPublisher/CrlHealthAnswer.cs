using Jpki.Core.Clock;
using Jpki.Core.HsmFaults;

namespace Jpki.CrlPublisher;

/// <summary>The publisher's <c>GET /healthz</c>: a named schema in its OpenAPI document.</summary>
public sealed record CrlHealthAnswer(
    string Status,
    string Hsm,
    HsmModuleHealth HsmModule,
    string? StoreNode,
    ClockHealth Clock,
    bool ClockDeferred,
    IReadOnlyList<StaleCrlAnswer> Stale,
    CrlWitnessHealth? AuditWitness);

/// <summary>A CRL past the deadline of its successor (scheduled, not yet published).</summary>
public sealed record StaleCrlAnswer(string IssuerKeyId, string Scope, string Kind, long Number, DateTimeOffset Deadline);

/// <summary>The audit witness pushes of this process: <c>ok</c> or <c>failing</c>, how far witnessed.</summary>
public sealed record CrlWitnessHealth(string Status, string Target, long WitnessedSeq, DateTimeOffset? WitnessedAt, int Failures, string? LastError, DateTimeOffset? FailingSince);
