using Jpki.Core.HsmFaults;

namespace Jpki.Ocsp;

/// <summary>The responder's <c>GET /healthz</c> (200 when healthy, 503 degraded, the same body): a named schema in its OpenAPI document.</summary>
public sealed record OcspHealthAnswer(
    string Status,
    OcspHsmHealth Hsm,
    int IssuerKeys,
    long Signatures,
    int CachedAnswers,
    int? CacheCapacity,
    long CacheBytes,
    long CacheBudgetBytes,
    long CacheEvictions,
    string? StoreNode,
    long LastChangeSeq,
    string Store,
    string StatusNotify,
    long StatusNotifyConnections,
    long QueriesLogged,
    QueryLogStatus QueryLog,
    long RefusedQueries,
    ArchiveStatus Archive);

/// <summary>The HSM session pool (<c>healthy</c> or <c>unavailable</c>, since when, why) and the module's outage watch.</summary>
public sealed record OcspHsmHealth(string Status, DateTimeOffset Since, string? LastError, HsmModuleHealth Module);
