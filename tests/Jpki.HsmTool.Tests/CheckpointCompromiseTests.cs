using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using Jpki.Core;
using Jpki.Core.Audit;
using Jpki.Core.Store;

namespace Jpki.HsmTool.Tests;

/// <summary>
/// Issue 17, decision 0421: <c>./jpki hsm checkpoint-compromise</c> (the real tool, SoftHSM, the
/// store on disk, a witness run as nobody). One officer only requests and cannot approve their own
/// request; the second officer's approval makes a new checkpoint key, a handover checkpoint signed
/// by both keys (in the store, the file and at the witness), destroys the old key and prints the
/// re-pin report. Auditors verify across the handover with the old pin and with the new one. The
/// insider who stole a copy of the token before (the old key and the PIN) signs a checkpoint after
/// the handover with the old key — over the chain's real hash — and verify refuses it; a handover
/// stripped of the new key's signature is refused too.
/// </summary>
[Collection(SoftHsmStoreTests.Name)]
public sealed class CheckpointCompromiseTests(SoftHsmStore store) : IDisposable
{
    private readonly WitnessReceiver witness = new();
    private readonly List<string> scratch = [];

    [Fact]
    public void Two_officers_hand_the_key_over_auditors_follow_it_with_either_pin_and_the_stolen_old_key_forges_nothing()
    {
        var install = store.NewInstall();
        File.WriteAllText(Path.Combine(install.Home, "jpki.json"), JsonSerializer.Serialize(new { audit = new { witness = witness.Url }, feed = new { enabled = false } }));
        // Production: the two officers' API tokens are shown once by the ceremony.
        var init = install.RunWithInput("\n\n\n", "hsm", "init", "--production", "--officers", "alice,bob", "--auditor", "carol");
        Assert.True(init.ExitCode == 0, init.ToString());
        var tokens = AccountCeremonyTests.Credentials().Matches(init.Stdout).ToDictionary(m => m.Groups["id"].Value, m => m.Groups["token"].Value);
        var (officer1, officer2) = (tokens["alice"], tokens["bob"]);
        var oldPin = Pin(install, "audit-checkpoint-1");
        var stolen = StealToken(install);

        // One officer alone only requests; a statement is required; the same officer cannot approve.
        var noStatement = install.RunWithInput(officer1 + "\n", "hsm", "checkpoint-compromise");
        Assert.True(noStatement.ExitCode == 2 && noStatement.Stderr.Contains("refused (statement-required)", StringComparison.Ordinal), noStatement.ToString());
        var requested = install.RunWithInput(officer1 + "\n", "hsm", "checkpoint-compromise", "--statement", "HSM partition credentials leaked (test)");
        Assert.True(requested.ExitCode == 3, requested.ToString());
        var same = install.RunWithInput(officer1 + "\n", "hsm", "checkpoint-compromise");
        Assert.True(same.ExitCode == 2 && same.Stderr.Contains("refused (same-officer)", StringComparison.Ordinal), same.ToString());
        Assert.True(HasPrivateKey(install, "audit-checkpoint-1"), "the key stays until a second officer approves");

        var approved = install.RunWithInput(officer2 + "\n", "hsm", "checkpoint-compromise");
        Assert.True(approved.ExitCode == 0, approved.ToString());
        var newPin = Pin(install, "audit-checkpoint-2");
        var handover = Scalar(install, "SELECT seq FROM audit_log WHERE action = 'audit.checkpoint-key.handover'");
        Assert.Contains($"handed the audit-checkpoint key over from 'audit-checkpoint-1' to 'audit-checkpoint-2' at record {handover}", approved.Stdout, StringComparison.Ordinal);
        Assert.Contains("destroyed private key 'audit-checkpoint-1' (1 object(s))", approved.Stdout, StringComparison.Ordinal);
        Assert.Contains($"new key audit-checkpoint-2: SubjectPublicKeyInfo SHA-256 {newPin}   <- record this as your new --key-sha256", approved.Stdout, StringComparison.Ordinal);
        var report = Path.Combine(install.Home, "audit", $"checkpoint-key-handover-{handover:D12}.txt");
        Assert.Contains(newPin, File.ReadAllText(report), StringComparison.Ordinal);
        Assert.False(HasPrivateKey(install, "audit-checkpoint-1"), "the compromised private key is destroyed");
        Assert.True(HasPrivateKey(install, "audit-checkpoint-2"));
        foreach (var action in new[] { "approval.requested", "approval.approved", "ceremony.checkpoint-key.created", "audit.checkpoint-key.handover", "audit.checkpoint-key.destroyed" })
        {
            Assert.True(Scalar(install, "SELECT COUNT(*) FROM audit_log WHERE action = @action", new { action }) >= 1, action);
        }

        // The handover checkpoint: old key first, new key's cosignature, in the store and at the witness.
        Assert.Equal(1, Scalar(install, "SELECT COUNT(*) FROM audit_checkpoint_cosignatures WHERE seq = @handover AND key_id = @newPin", new { handover, newPin }));
        Assert.True(witness.WaitFor(handover, TimeSpan.FromSeconds(10)));
        var held = AuditCheckpointDocument.Load(witness.PathOf(handover));
        Assert.Equal([oldPin, newPin], held.Signatures.Select(s => s.KeyId));

        // A later verb signs with the new key; auditors verify with either pin, with the witness.
        var later = install.Run("audit", "checkpoint", "--out", Path.Combine(install.Home, "later.json"));
        Assert.True(later.ExitCode == 0 && later.Stdout.Contains($"signed by key {newPin}", StringComparison.Ordinal), later.ToString());
        foreach (var pin in new[] { oldPin, newPin })
        {
            var verify = install.Run("audit", "verify", "--witness", witness.Directory, "--key-sha256", pin);
            Assert.True(verify.ExitCode == 0, verify.ToString());
            Assert.Contains($"checkpoint key handed over at record {handover}: {oldPin} -> {newPin} (signed by both)", verify.Stdout, StringComparison.Ordinal);
        }

        // The outside auditor's bundle spans the handover: verify.sh checks each checkpoint by its own key.
        var today = Jst.DateOf(DateTimeOffset.UtcNow);
        var bundle = Path.Combine(install.Home, "export");
        var export = install.Run("audit", "export", "--from", Instant.ToDateText(today.AddDays(-1)), "--to", Instant.ToDateText(today.AddDays(1)), "--out", bundle);
        Assert.True(export.ExitCode == 0, export.ToString());
        var (bundleExit, bundleOutput) = ExternalProcess.Run("bash", Path.Combine(bundle, "verify.sh"));
        Assert.True(bundleExit == 0, bundleOutput);

        // The thief's stolen copy of the old key signs the newest checkpoint's own statement: refused.
        var forged = install.CopyHome();
        var latest = ForgeWithStolenKey(forged, stolen, oldPin);
        var refused = forged.Run("audit", "verify", "--key-sha256", oldPin);
        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains($"audit chain FAILED at record {latest}: CheckpointKeyRetired: the checkpoint at {latest} (File) is signed by key {oldPin}, which was handed over to key {newPin} at record {handover}", refused.Stdout, StringComparison.Ordinal);

        // A handover stripped of the new key's signature (store and file): signed by one key only.
        var stripped = install.CopyHome();
        StripCosignature(stripped);
        var incomplete = stripped.Run("audit", "verify");
        Assert.True(incomplete.ExitCode == 1, incomplete.ToString());
        Assert.Contains($"audit chain FAILED at record {handover}: CheckpointHandoverIncomplete: record {handover} hands the checkpoint key over from key {oldPin} to key {newPin}, but no checkpoint at record {handover} is signed by both keys", incomplete.Stdout, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        witness.Dispose();
        foreach (var directory in scratch)
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static string Pin(Install install, string key) =>
        ExternalProcess.RunOrThrow("bash", "-c", $"openssl x509 -in '{install.CertPath(key)}' -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum").Split(' ')[0];

    private static bool HasPrivateKey(Install install, string label)
    {
        var (exit, output, _) = install.Pkcs11Tool("--list-objects", "--type", "privkey");
        Assert.True(exit == 0, output);
        return output.Contains($"label:      {label}\n", StringComparison.Ordinal);
    }

    private static long Scalar(Install install, string sql, object? parameters = null)
    {
        using var database = new Database($"Data Source={install.DatabasePath}", TimeProvider.System);
        using var connection = database.OpenConnection();
        return connection.ExecuteScalar<long>(sql, parameters);
    }

    /// <summary>A copy of the install's SoftHSM token directory, as a thief with a token backup holds it, and a SoftHSM configuration to use it.</summary>
    private string StealToken(Install install)
    {
        var label = Encoding.ASCII.GetBytes(install.TokenLabel);
        var source = Directory.EnumerateDirectories(install.Store.TokenDir)
            .Single(d => File.ReadAllBytes(Path.Combine(d, "token.object")).AsSpan().IndexOf(label) >= 0);
        var root = Directory.CreateTempSubdirectory("jpki-stolen-").FullName;
        scratch.Add(root);
        var target = Path.Combine(root, "tokens", Path.GetFileName(source));
        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(source))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }

        var conf = Path.Combine(root, "softhsm2.conf");
        File.WriteAllText(conf, $"directories.tokendir = {Path.Combine(root, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        return conf;
    }

    /// <summary>
    /// The old checkpoint key's CKA_ID (the ceremony sets it to the label's bytes). pkcs11-tool
    /// --sign finds its key by id only: given a label alone it signs with the token's first private
    /// key, whichever SoftHSM lists first.
    /// </summary>
    private static readonly string OldKeyObjectId = Convert.ToHexStringLower(Encoding.ASCII.GetBytes("audit-checkpoint-1"));

    /// <summary>Replaces the newest checkpoint (store and file) by one over the same statement signed with the stolen old key (pkcs11-tool); returns its seq.</summary>
    private static long ForgeWithStolenKey(Install install, string stolenConf, string oldKeyId)
    {
        using var database = new Database($"Data Source={install.DatabasePath}", TimeProvider.System);
        AuditCheckpoint latest;
        using (var connection = database.OpenConnection())
        {
            latest = AuditCheckpointStore.Latest(connection)!;
        }

        var digest = Path.Combine(install.Home, "forged.digest");
        var signature = Path.Combine(install.Home, "forged.sig");
        File.WriteAllBytes(digest, SHA256.HashData(latest.Statement()));
        var psi = new ProcessStartInfo("pkcs11-tool") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["--module", install.Store.ModulePath, "--token-label", install.TokenLabel, "--login", "--pin", "env:STOLEN_PIN", "--sign", "--mechanism", "ECDSA", "--id", OldKeyObjectId, "--input-file", digest, "--output-file", signature, "--signature-format", "openssl"])
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["SOFTHSM2_CONF"] = stolenConf;
        psi.Environment["STOLEN_PIN"] = File.ReadAllText(install.UserPinFile).Trim();
        using (var process = Process.Start(psi)!)
        {
            var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, output);
        }

        var forged = latest with { KeyId = oldKeyId, Signature = File.ReadAllBytes(signature) };
        using (var tx = database.BeginWrite())
        {
            tx.Execute("UPDATE audit_checkpoints SET key_id = @KeyId, signature = @Signature WHERE seq = @Seq", new { forged.KeyId, forged.Signature, forged.Seq });
            tx.Commit();
        }

        var file = Path.Combine(install.Home, "audit", "checkpoints");
        File.WriteAllLines(file, File.ReadAllLines(file).Select(l => AuditCheckpoint.ParseFileLine(l)!.Seq == forged.Seq ? forged.ToFileLine() : l));
        return forged.Seq;
    }

    /// <summary>Deletes the handover's cosignature from the store and from its checkpoint-file line.</summary>
    private static void StripCosignature(Install install)
    {
        using var database = new Database($"Data Source={install.DatabasePath}", TimeProvider.System);
        using (var tx = database.BeginWrite())
        {
            tx.Execute("DELETE FROM audit_checkpoint_cosignatures");
            tx.Commit();
        }

        var file = Path.Combine(install.Home, "audit", "checkpoints");
        File.WriteAllLines(file, File.ReadAllLines(file).Select(l => AuditCheckpoint.ParseFileLine(l)! with { Cosignatures = [] }).Select(c => c.ToFileLine()));
    }
}
