using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Jpki.Core.Store;

namespace Jpki.Core.Accounts;

/// <summary>How a verifier was recognised.</summary>
public enum VerifierCredential
{
    Token,
    ClientCertificate,
    Network,
}

/// <summary>A granted request: who it is named as in logs, and how it was recognised.</summary>
public sealed record VerifierGrant(string Verifier, VerifierCredential By)
{
    /// <summary>Recognised by its source network only (its answers may sit in shared caches).</summary>
    public bool ByNetwork => By == VerifierCredential.Network;
}

/// <summary>
/// The access policy of the OCSP and CRL listeners (docs/design.md §6), one type for both: a registered,
/// enabled verifier's API token (<c>Authorization: Bearer</c>), or the client certificate of a TLS
/// connection registered to such a verifier (by the SHA-256 of its DER, within its validity), or a
/// source address inside an allowlisted network. Anything else is refused (OCSP 'unauthorized',
/// CRL 401). Lookups are remembered for <c>rememberFor</c> (zero: never), so a hit costs no store
/// read; disabling a verifier takes effect within that time.
/// </summary>
public sealed class VerifierAccessPolicy(Database database, IReadOnlyList<IPNetwork> allowedNetworks, TimeProvider time, TimeSpan rememberFor)
{
    private const int RememberedLimit = 10_000;
    private readonly ConcurrentDictionary<string, (string? Verifier, long ExpiresTicks)> remembered = new(StringComparer.Ordinal);

    /// <summary>Parses <c>allowedNetworks</c> settings (CIDR); a malformed entry is a <see cref="FormatException"/> naming it.</summary>
    public static IReadOnlyList<IPNetwork> ParseNetworks(IEnumerable<string> cidrs) =>
        cidrs.Select(c => IPNetwork.TryParse(c, out var network) ? network : throw new FormatException($"'{c}' is not a network in CIDR notation")).ToList();

    /// <param name="authorization">The Authorization header as sent (or null).</param>
    /// <param name="clientCertificate">The certificate the TLS client presented (or null on plain HTTP).</param>
    /// <param name="remote">The connection's source address.</param>
    public async ValueTask<VerifierGrant?> AuthorizeAsync(string? authorization, X509Certificate2? clientCertificate, IPAddress? remote, CancellationToken cancellationToken)
    {
        const string scheme = "Bearer ";
        if (authorization is { } header && header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) && header.Length > scheme.Length)
        {
            var hash = AccountStore.TokenHash(header[scheme.Length..].Trim());
            if (await LookUpAsync("t:" + hash, db => AccountStore.FindByTokenHash(db, hash, Instant.NowMicros(time)) is { Role: AccountRole.Verifier, Disabled: false } a ? a.Id : null, cancellationToken) is { } verifier)
            {
                return new VerifierGrant(verifier, VerifierCredential.Token);
            }
        }

        if (clientCertificate is not null)
        {
            var fingerprint = ClientCertificateStore.Fingerprint(clientCertificate.RawData);
            if (await LookUpAsync("c:" + fingerprint, db => ClientCertificateStore.VerifierFor(db, fingerprint, Instant.NowMicros(time)), cancellationToken) is { } verifier)
            {
                return new VerifierGrant(verifier, VerifierCredential.ClientCertificate);
            }
        }

        if (remote is not null)
        {
            var address = remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote;
            foreach (var network in allowedNetworks)
            {
                if (network.Contains(address))
                {
                    return new VerifierGrant("network:" + network, VerifierCredential.Network);
                }
            }
        }

        return null;
    }

    private async ValueTask<string?> LookUpAsync(string key, Func<System.Data.Common.DbConnection, string?> find, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcTicks;
        if (rememberFor > TimeSpan.Zero && remembered.TryGetValue(key, out var known) && known.ExpiresTicks > now)
        {
            return known.Verifier;
        }

        await using var db = await database.OpenConnectionAsync(cancellationToken);
        var verifier = find(db);
        if (rememberFor > TimeSpan.Zero)
        {
            // Bounded: refusals are remembered too (so guessing costs no store reads), but the map
            // is cleared rather than allowed to grow without limit.
            if (remembered.Count > RememberedLimit)
            {
                remembered.Clear();
            }

            remembered[key] = (verifier, now + rememberFor.Ticks);
        }

        return verifier;
    }
}
