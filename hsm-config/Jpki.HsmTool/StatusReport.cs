using Jpki.Core.Issuers;
using Jpki.Core.Store;
using Org.BouncyCastle.X509;

namespace Jpki.HsmTool;

/// <summary>`./jpki hsm status`: what the store and the token hold, with expiry dates in JST.</summary>
internal static class StatusReport
{
    public static int Print(ToolContext context)
    {
        var output = context.Output;
        var settings = context.Settings;
        if (!context.TokenExists)
        {
            output.WriteLine($"token '{settings.TokenLabel}' does not exist: run ./jpki hsm init");
            return 1;
        }

        using var db = context.Database.OpenConnection();
        var missing = new List<string>();
        string Present(string label)
        {
            if (context.Token.HasKey(label))
            {
                return "";
            }

            missing.Add(label);
            return "  MISSING FROM TOKEN";
        }

        output.WriteLine($"install: {settings.InstallName}  (JPKI_HOME {settings.Home})");
        output.WriteLine($"token:   {settings.TokenLabel} on {settings.ModulePath}");
        foreach (var issuer in IssuerStore.ListIssuers(db))
        {
            output.WriteLine($"issuer {issuer.Id}  [{issuer.Kind}, {issuer.Prefecture}]  {issuer.SubjectDn}");
            foreach (var key in IssuerStore.ListKeys(db, issuer.Id))
            {
                PrintKey(output, db, key, Present);
            }
        }

        foreach (var key in IssuerStore.ListInstallKeys(db))
        {
            var expiry = key.CertificateDer is { } der ? $"  certificate valid until {InJst(new X509Certificate(der).NotAfter)}" : "";
            // A retired checkpoint key was destroyed by its handover (decision 0421): not missing.
            var destroyed = key.State == "retired" && key.Purpose == "audit-checkpoint";
            output.WriteLine($"install key {key.Id}  [{key.Purpose}]  {key.State}  hsm '{key.HsmKeyLabel}'{expiry}{(destroyed ? "  (private key destroyed)" : Present(key.HsmKeyLabel))}");
        }

        output.WriteLine("token keys (sensitive / extractable / never-extractable):");
        foreach (var label in context.Token.KeyLabels())
        {
            var p = context.Token.DescribeKey(label);
            output.WriteLine($"  {label,-40} {p.Sensitive,-5} / {p.Extractable,-5} / {p.NeverExtractable}");
        }

        if (missing.Count > 0)
        {
            output.WriteLine($"{missing.Count} key(s) the store relies on are missing from the token: restore it (./jpki hsm restore --in BACKUP --replace)");
            return 1;
        }

        return 0;
    }

    /// <summary>One key generation: its HSM key, root, switch and publication, and its current responder.</summary>
    private static void PrintKey(TextWriter output, System.Data.Common.DbConnection db, IssuerKeyRow key, Func<string, string> present)
    {
        // A retired generation's private keys were destroyed on purpose (./jpki hsm retire): not missing.
        var retired = key.State == "retired";
        output.WriteLine($"  key {key.Id}  generation {key.Generation}  {key.State}  hsm '{key.HsmKeyLabel}'{(retired ? "  (private key destroyed)" : present(key.HsmKeyLabel))}");
        if (key.CertificateDer is { } der)
        {
            var cert = new X509Certificate(der);
            output.WriteLine($"    root      serial {cert.SerialNumber.ToString(16)}  valid {InJst(cert.NotBefore)} .. {InJst(cert.NotAfter)}");
            output.WriteLine($"    issues    from {(key.IssuesFromUs is { } from ? InJst(Instant.FromMicros(from).UtcDateTime) : "- (not switched)")}  published {(key.PublishedUs is { } published ? InJst(Instant.FromMicros(published).UtcDateTime) : "-")}");
        }

        if (IssuerStore.FindCurrentResponder(db, key.Id) is { } responder)
        {
            var cert = new X509Certificate(responder.CertificateDer);
            output.WriteLine($"    responder serial {responder.Serial}  valid {InJst(cert.NotBefore)} .. {InJst(cert.NotAfter)}  hsm '{responder.HsmKeyLabel}'{(retired ? "  (private key destroyed)" : present(responder.HsmKeyLabel))}");
        }
    }

    private static string InJst(DateTime utc) =>
        Core.Jst.ToJst(new DateTimeOffset(utc, TimeSpan.Zero)).ToString("yyyy-MM-dd HH:mm:ss 'JST'", System.Globalization.CultureInfo.InvariantCulture);
}
