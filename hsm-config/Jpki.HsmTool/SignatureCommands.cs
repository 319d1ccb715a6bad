using System.Globalization;
using Jpki.Core.Signatures;

namespace Jpki.HsmTool;

/// <summary>`./jpki audit signatures`: every certificate signature accounted for (issue 16, finding 5).</summary>
internal static class SignatureCommands
{
    /// <summary>
    /// First checks the chain exactly as `audit verify` does (the check below trusts the chain's
    /// 'signature.intended' records, so a cut or rewritten chain must fail first), then matches
    /// every intent with its certificate or its discard record (<see cref="SignatureAccountingCheck"/>).
    /// Exit 0 every signature accounted for, 1 the chain failed or an intent is unaccounted (each
    /// named), 2 unusable input.
    /// </summary>
    public static int Signatures(ToolContext context, IReadOnlyList<string> witnessPaths, string? keySha256, string? graceSecondsText)
    {
        var grace = SignatureAccountingCheck.DefaultGrace;
        if (graceSecondsText is not null)
        {
            if (!int.TryParse(graceSecondsText, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > 86_400)
            {
                Console.Error.WriteLine("error: --grace-seconds wants a whole number of seconds, 0-86400");
                return 2;
            }

            grace = TimeSpan.FromSeconds(seconds);
        }

        var chain = AuditCommands.Verify(context, witnessPaths, keySha256);
        if (chain != 0)
        {
            return chain;
        }

        var report = SignatureAccountingCheck.Run(context.Database, grace);
        foreach (var missing in report.Unaccounted)
        {
            context.Output.WriteLine(
                $"UNACCOUNTED signature: certificate {missing.Serial} ({missing.Purpose}, key {missing.IssuerKeyId}, TBS SHA-256 {missing.TbsSha256}), intended "
                + $"{missing.IntendedAt:u}{(missing.AuditSeq is { } seq ? $" (audit record {seq})" : "")} by the record's actor: {missing.Problem}");
        }

        var counts = $"{report.Intended} intended, {report.Certified} certified, {report.Discarded} discarded, {report.InProgress} in progress (younger than the {grace.TotalSeconds:0} s grace period)"
            + (report.Purged > 0 ? $", {report.Purged} purged under retention" : "");
        context.Output.WriteLine(report.AllAccounted
            ? $"signatures OK: every intended signature is accounted for: {counts}"
            : $"signatures FAILED: {report.Unaccounted.Count} intended signature(s) with neither a certificate nor a 'signature.discarded' record: {counts}");
        return report.AllAccounted ? 0 : 1;
    }
}
