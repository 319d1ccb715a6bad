using Dapper;
using Jpki.Core.Store;

namespace Jpki.HsmTool.Tests;

/// <summary>
/// `./jpki audit signatures` as an auditor runs it, on a copy of the shared ceremony's install:
/// the ceremony signed five certificates (checkpoint key, two roots, two responders), each after
/// its intent; then an insider deletes a certificate row, or an intent's audit record, and the
/// real tool names what is missing and exits 1.
/// </summary>
[Collection(SoftHsmStoreTests.Name)]
public sealed class AuditSignaturesTests(SoftHsmStore store)
{
    [Fact]
    public void Every_ceremony_signature_is_accounted_for_and_each_intent_precedes_its_certificate()
    {
        var install = store.Ceremony.Value.Install.CopyHome();
        var result = install.Run("audit", "signatures");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("audit chain OK:", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("signatures OK: every intended signature is accounted for: 5 intended, 5 certified, 0 discarded, 0 in progress (younger than the 300 s grace period)", result.Stdout, StringComparison.Ordinal);

        using var database = new Database($"Data Source={install.DatabasePath}", TimeProvider.System);
        using var db = database.OpenConnection();
        var purposes = db.Query<string>("SELECT purpose FROM signature_intents WHERE outcome = 'certified' ORDER BY purpose").ToList();
        Assert.Equal(["audit-checkpoint", "ocsp-responder", "ocsp-responder", "root", "root"], purposes);
        // Each certificate's record comes after its intent's.
        Assert.Equal(0, db.ExecuteScalar<long>(
            """
            SELECT COUNT(*) FROM signature_intents i
            WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.seq > i.audit_seq
                AND a.action IN ('ceremony.root.issued', 'ceremony.ocsp-responder.issued', 'ceremony.checkpoint-key.created')
                AND a.details LIKE '%' || i.serial || '%')
            """));
    }

    [Fact]
    public void A_deleted_certificate_row_is_named_and_exits_1()
    {
        var install = store.Ceremony.Value.Install.CopyHome();
        string serial;
        using (var database = new Database($"Data Source={install.DatabasePath}", TimeProvider.System))
        using (var db = database.OpenConnection())
        {
            serial = db.ExecuteScalar<string>("SELECT serial FROM ocsp_responders ORDER BY serial LIMIT 1")!;
            db.Execute("DELETE FROM ocsp_responders WHERE serial = @serial", new { serial });
            db.Execute("DELETE FROM status_changes WHERE serial = @serial", new { serial });
            Assert.Equal(1, db.Execute("DELETE FROM certificates WHERE serial = @serial", new { serial }));
        }

        // The chain itself is intact: only the accounting finds it.
        Assert.Equal(0, install.Run("audit", "verify").ExitCode);
        var result = install.Run("audit", "signatures");
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains($"UNACCOUNTED signature: certificate {serial} (ocsp-responder, key yamaguchi-ken-", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("no certificate row and no 'signature.discarded' record, although its intent row says certified", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("signatures FAILED: 1 intended signature(s) with neither a certificate nor a 'signature.discarded' record: 5 intended, 4 certified", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Deleting_an_intent_record_with_its_certificate_breaks_the_chain_and_fails_first()
    {
        var install = store.Ceremony.Value.Install.CopyHome();
        using (var database = new Database($"Data Source={install.DatabasePath}", TimeProvider.System))
        using (var db = database.OpenConnection())
        {
            var (serial, seq) = db.QueryFirst<(string, long)>("SELECT serial, audit_seq FROM signature_intents WHERE purpose = 'ocsp-responder' ORDER BY serial");
            db.Execute("DELETE FROM ocsp_responders WHERE serial = @serial", new { serial });
            db.Execute("DELETE FROM status_changes WHERE serial = @serial", new { serial });
            db.Execute("DELETE FROM certificates WHERE serial = @serial", new { serial });
            db.Execute("DELETE FROM signature_intents WHERE serial = @serial", new { serial });
            Assert.Equal(1, db.Execute("DELETE FROM audit_log WHERE seq = @seq", new { seq }));
        }

        var result = install.Run("audit", "signatures");
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("audit chain FAILED at record", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("signatures OK", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_grace_period_is_unusable_input()
    {
        var result = store.Ceremony.Value.Install.CopyHome().Run("audit", "signatures", "--grace-seconds", "soon");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("--grace-seconds wants a whole number of seconds", result.Stderr, StringComparison.Ordinal);
    }
}
