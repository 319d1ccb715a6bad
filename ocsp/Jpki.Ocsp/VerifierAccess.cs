using System.Collections.Concurrent;
using System.Net;
using Jpki.Core.Accounts;
using Jpki.Core.Store;
using Microsoft.AspNetCore.Http;

namespace Jpki.Ocsp;

/// <summary>
/// The listener's access policy (DESIGN.md §6): a registered, enabled verifier's API token as
/// <c>Authorization: Bearer</c>, or a source address inside an allowlisted network. Anything
/// else is refused (OCSP status 'unauthorized'). Token lookups are remembered for
/// <c>rememberFor</c> (a few seconds) so that a hit costs no store read; disabling a verifier
/// therefore takes effect within that time.
/// </summary>
public sealed class VerifierAccess(Database database, IReadOnlyList<IPNetwork> allowedNetworks, TimeProvider time, TimeSpan rememberFor)
{
    private readonly ConcurrentDictionary<string, (string? Verifier, long ExpiresTicks)> remembered = new(StringComparer.Ordinal);

    /// <summary>How a granted request is named in the query log, and whether its answer may sit in shared caches.</summary>
    public sealed record Grant(string Verifier, bool ByNetwork);

    public async ValueTask<Grant?> AuthorizeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var header = context.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) && header.Length > scheme.Length)
        {
            var verifier = await VerifierForTokenAsync(header[scheme.Length..].Trim(), context.RequestAborted);
            if (verifier is not null)
            {
                return new Grant(verifier, ByNetwork: false);
            }
        }

        if (context.Connection.RemoteIpAddress is { } address)
        {
            var mapped = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
            foreach (var network in allowedNetworks)
            {
                if (network.Contains(mapped))
                {
                    return new Grant("network:" + network, ByNetwork: true);
                }
            }
        }

        return null;
    }

    private async ValueTask<string?> VerifierForTokenAsync(string token, CancellationToken cancellationToken)
    {
        var hash = AccountStore.TokenHash(token);
        var now = time.GetUtcNow().UtcTicks;
        if (remembered.TryGetValue(hash, out var known) && known.ExpiresTicks > now)
        {
            return known.Verifier;
        }

        await using var db = await database.OpenConnectionAsync(cancellationToken);
        var account = AccountStore.FindByToken(db, token);
        var verifier = account is { Role: AccountRole.Verifier, Disabled: false } ? account.Id : null;

        // Bounded: wrong tokens are remembered too (so guessing costs no store reads), but the map
        // is cleared rather than allowed to grow without limit.
        if (remembered.Count > 10_000)
        {
            remembered.Clear();
        }

        remembered[hash] = (verifier, now + rememberFor.Ticks);
        return verifier;
    }
}
