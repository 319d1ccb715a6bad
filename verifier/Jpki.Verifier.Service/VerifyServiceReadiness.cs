using Jpki.Core.Store;
using Jpki.Hosting;
using Jpki.Verifier.Store;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Verifier.Service;

/// <summary>
/// <c>GET /readyz</c> of the verification service: it can verify now — the install's store answers
/// (every caller's token or client certificate is checked there: without it nobody gets in), it
/// trusts at least one root, and, when it checks logins, the used-challenge store answers (a login
/// cannot be accepted without recording its nonce). The OCSP responder is left out: it is the same
/// for every instance, and kept answers still serve a resident it knows (docs/decisions/0501).
/// </summary>
public static class VerifyServiceReadiness
{
    public static async Task<IReadOnlyList<ReadinessCheck>> CheckAsync(IServiceProvider provider, VerifyServiceOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(options);
        var checks = new List<ReadinessCheck>
        {
            await ReadinessCheck.ProbeAsync("store", token => StoreCheck.ProbeAsync(provider.GetRequiredService<Database>(), token), cancellationToken),
            options.Roots.Length > 0 ? new ReadinessCheck("roots", true, $"{options.Roots.Length} trusted") : new ReadinessCheck("roots", false, "no trusted root: every signature would fail UntrustedChain"),
        };
        if (options.Login is not null)
        {
            checks.Add(await ReadinessCheck.ProbeAsync("logins", token => provider.GetRequiredService<SqlUsedChallenges>().ProbeAsync(token), cancellationToken));
        }

        return checks;
    }
}
