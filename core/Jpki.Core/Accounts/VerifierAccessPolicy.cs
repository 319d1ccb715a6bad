using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
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
/// read; disabling a verifier takes effect within that time. A remembered token costs one SHA-256
/// over a stack buffer and a lookup by the 32-byte digest: no string and no grant made per request
/// (docs/decisions/0920).
/// </summary>
public sealed class VerifierAccessPolicy(Database database, IReadOnlyList<IPNetwork> allowedNetworks, TimeProvider time, TimeSpan rememberFor)
{
    private const int RememberedLimit = 10_000;
    private readonly ConcurrentDictionary<string, (string? Verifier, long ExpiresTicks)> remembered = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<TokenDigest, (VerifierGrant? Grant, long ExpiresTicks)> rememberedTokens = new();
    private readonly VerifierGrant[] networkGrants = [.. allowedNetworks.Select(n => new VerifierGrant("network:" + n, VerifierCredential.Network))];

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
            var digest = TokenDigest.Of(header.AsSpan(scheme.Length).Trim());
            var now = time.GetUtcNow().UtcTicks;
            if (rememberFor > TimeSpan.Zero && rememberedTokens.TryGetValue(digest, out var known) && known.ExpiresTicks > now)
            {
                if (known.Grant is { } rememberedGrant)
                {
                    return rememberedGrant;
                }
            }
            else
            {
                var hash = digest.ToHex();
                var verifier = await FindAsync(db => AccountStore.FindByTokenHash(db, hash, Instant.NowMicros(time)) is { Role: AccountRole.Verifier, Disabled: false } a ? a.Id : null, cancellationToken);
                var grant = verifier is null ? null : new VerifierGrant(verifier, VerifierCredential.Token);
                if (rememberFor > TimeSpan.Zero)
                {
                    // Bounded as the other lookups are: refusals remembered too, the map cleared rather than grown.
                    if (rememberedTokens.Count > RememberedLimit)
                    {
                        rememberedTokens.Clear();
                    }

                    rememberedTokens[digest] = (grant, now + rememberFor.Ticks);
                }

                if (grant is not null)
                {
                    return grant;
                }
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
            for (var i = 0; i < allowedNetworks.Count; i++)
            {
                if (allowedNetworks[i].Contains(address))
                {
                    return networkGrants[i];
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

        var verifier = await FindAsync(find, cancellationToken);
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

    private async ValueTask<string?> FindAsync(Func<System.Data.Common.DbConnection, string?> find, CancellationToken cancellationToken)
    {
        await using var db = await database.OpenConnectionAsync(cancellationToken);
        return find(db);
    }

    /// <summary>The SHA-256 of a token's UTF-8 (what the store keeps as token_sha256), as a key that is no string.</summary>
    private readonly record struct TokenDigest(ulong A, ulong B, ulong C, ulong D)
    {
        public static TokenDigest Of(ReadOnlySpan<char> token)
        {
            var most = Encoding.UTF8.GetMaxByteCount(token.Length);
            byte[]? rented = null;
            Span<byte> utf8 = most <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(most));
            try
            {
                Span<byte> hash = stackalloc byte[32];
                SHA256.HashData(utf8[..Encoding.UTF8.GetBytes(token, utf8)], hash);
                var words = MemoryMarshal.Cast<byte, ulong>(hash);
                return new TokenDigest(words[0], words[1], words[2], words[3]);
            }
            finally
            {
                if (rented is not null)
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }
        }

        /// <summary>Lowercase hex of the digest, as <see cref="AccountStore.TokenHash"/> writes it.</summary>
        public string ToHex()
        {
            Span<ulong> words = [A, B, C, D];
            return Convert.ToHexStringLower(MemoryMarshal.AsBytes(words));
        }
    }
}
