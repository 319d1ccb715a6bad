using System.Net;
using Jpki.Core.Accounts;
using Jpki.Core.Store;

namespace Jpki.CrlPublisher;

/// <summary>
/// Who may fetch CRLs (DESIGN.md §6: registered verifiers only): a request from an allowlisted
/// network (a closed government network whose stock relying parties send no credentials), or one
/// with a registered verifier's bearer token. Anything else gets 401.
/// </summary>
public sealed class CrlAccessPolicy(Database database, IReadOnlyList<IPNetwork> allowedNetworks)
{
    public static IReadOnlyList<IPNetwork> ParseNetworks(IEnumerable<string> cidrs) =>
        cidrs.Select(c => IPNetwork.TryParse(c, out var network) ? network : throw new FormatException($"'{c}' is not a network in CIDR notation")).ToList();

    public async Task<bool> AllowsAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Connection.RemoteIpAddress is { } remote)
        {
            var address = remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote;
            if (allowedNetworks.Any(n => n.Contains(address)))
            {
                return true;
            }
        }

        var header = context.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) || header.Length == scheme.Length)
        {
            return false;
        }

        await using var db = await database.OpenConnectionAsync(context.RequestAborted);
        var account = AccountStore.FindByToken(db, header[scheme.Length..].Trim());
        return account is { Role: AccountRole.Verifier, Disabled: false };
    }
}
