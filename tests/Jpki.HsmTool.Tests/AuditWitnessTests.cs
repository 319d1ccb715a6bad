using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Jpki.Core.Audit;
using Npgsql;

namespace Jpki.HsmTool.Tests;

/// <summary>
/// The review's tampering table (issue 16, finding 4) against a real install: the key ceremony
/// and `audit verify` as child processes, SoftHSM, the store on disk (SQLite, and PostgreSQL for
/// the CA's timer), and a witness run as nobody that the install pushes every checkpoint to. Each
/// tamper is what an insider with the host's database and files can do; each must be named by
/// `audit verify` — by the store's own checkpoints where they remain, else by the witness.
/// </summary>
[Collection(SoftHsmStoreTests.Name)]
public sealed class AuditWitnessTests(SoftHsmStore store) : IDisposable
{
    private readonly WitnessReceiver witness = new();
    private readonly List<string> postgresDatabases = [];
    private readonly List<ChainTampering> tampering = [];

    [Fact]
    public void A_cut_tail_with_chain_head_reset_is_named_by_the_stores_checkpoint_and_with_those_dropped_by_the_witness()
    {
        var (install, pin, tamper) = NewInstall();
        Backup(install, 2);
        var head = tamper.HeadSeq();
        tamper.CutAfter(head - 2);
        var verify = install.Run("audit", "verify");
        Assert.True(verify.ExitCode == 1, verify.ToString());
        Assert.Contains($"audit chain FAILED at record {head - 1}: Truncated: the chain ends at record {head - 2} but a checkpoint vouches for record {head}", verify.Stdout, StringComparison.Ordinal);
        Assert.Contains(head, witness.HeldSeqs());

        // The insider also drops the checkpoints that give the cut away: only the witness still can.
        tamper.DropCheckpointsFrom(head - 1);
        Assert.Equal(0, install.Run("audit", "verify").ExitCode);
        verify = install.Run("audit", "verify", "--witness", witness.Directory, "--key-sha256", pin);
        Assert.True(verify.ExitCode == 1, verify.ToString());
        Assert.Contains($"audit chain FAILED at record {head - 1}: Truncated: the chain ends at record {head - 2} but witness checkpoint {head} ({witness.PathOf(head)}) vouches for record {head}", verify.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void A_rewritten_record_with_the_chain_recomputed_and_later_checkpoints_dropped_is_named_by_the_witness()
    {
        var (install, pin, tamper) = NewInstall();
        Backup(install, 2);
        tamper.Rewrite(3, details =>
        {
            details["hsmKeyLabel"] = "someone-else";
            return details;
        });
        tamper.DropCheckpointsFrom(3);
        var plain = install.Run("audit", "verify");
        Assert.True(plain.ExitCode == 0, plain.ToString());
        Assert.Contains("audit chain OK", plain.Stdout, StringComparison.Ordinal);

        var verify = install.Run("audit", "verify", "--witness", witness.Directory, "--key-sha256", pin);
        Assert.True(verify.ExitCode == 1, verify.ToString());
        var violated = witness.HeldSeqs().First(s => s >= 3);
        Assert.Contains($"audit chain FAILED at record {violated}: CheckpointHashMismatch: the chain was rewritten between records 2 and {violated}: witness checkpoint {violated} ({witness.PathOf(violated)}) signed a different hash", verify.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Checkpoints_signed_by_a_key_other_than_the_pinned_one_are_named()
    {
        var (install, pin, tamper) = NewInstall();
        Backup(install, 1);
        var head = tamper.HeadSeq();

        // The insider's own key replaces the checkpoint key: certificate, ceremony record (chain
        // recomputed after it) and every checkpoint signature, in the store and in the file.
        var (key, certificate) = ChainTampering.InsiderKey();
        using var insiderKey = key;
        var insider = AuditCheckpoint.KeyIdOf(key.ExportSubjectPublicKeyInfo());
        tamper.ReplaceCheckpointCertificate(certificate);
        tamper.Rewrite(tamper.SeqOf("ceremony.checkpoint-key.created"), details =>
        {
            details["certificateSha256"] = Convert.ToHexStringLower(SHA256.HashData(certificate));
            details["publicKeyId"] = insider;
            return details;
        });
        tamper.ResignCheckpoints(key);
        var plain = install.Run("audit", "verify");
        Assert.True(plain.ExitCode == 0, plain.ToString());

        var pinned = install.Run("audit", "verify", "--key-sha256", pin);
        Assert.True(pinned.ExitCode == 1, pinned.ToString());
        Assert.Contains($"audit chain FAILED at record 1: CheckpointUnknownKey: the checkpoint at 1 (File) was signed by key {insider}, not by the pinned key (which neither the store nor a witness file holds)", pinned.Stdout, StringComparison.Ordinal);
        Assert.Contains($"SubjectPublicKeyInfo SHA-256 {insider} (what --key-sha256 pins)", plain.Stdout, StringComparison.Ordinal);
        var witnessed = install.Run("audit", "verify", "--witness", witness.Directory, "--key-sha256", pin);
        Assert.True(witnessed.ExitCode == 1, witnessed.ToString());
        Assert.Contains($"audit chain FAILED at record 1: CheckpointUnknownKey: the checkpoint at 1 (File) was signed by key {insider}, not by the pinned key", witnessed.Stdout, StringComparison.Ordinal);

        // A witness file the insider signed with the own key, handed to the auditor.
        var forged = Path.Combine(install.Home, "forged.json");
        var statement = AuditCheckpoint.StatementFor(head, new string('a', 64), 1);
        var signature = key.SignData(statement, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        File.WriteAllBytes(forged, new AuditCheckpointDocument(head, new string('a', 64), 1, [new CheckpointSignature(insider, signature)], [new CheckpointKey(insider, key.ExportSubjectPublicKeyInfo(), certificate)]).ToUtf8Bytes());
        var verify = install.Run("audit", "verify", "--witness", forged, "--key-sha256", pin);
        Assert.True(verify.ExitCode == 1, verify.ToString());
        Assert.Contains($"audit chain FAILED at record {head}: CheckpointUnknownKey: witness checkpoint {head} ({forged}) is signed by key {insider}, not by the pinned key {pin}", verify.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_quiet_systems_last_record_is_checkpointed_on_the_timer_and_cutting_it_is_named_by_the_witness(string engine)
    {
        var (install, pin, tamper) = NewInstall(tailSeconds: 1, postgres: engine == "postgres");
        long quiet;
        long last;
        using (var ca = CaProcess.Start(install))
        using (var http = new HttpClient())
        {
            // The CA's start appended the built-in accounts; the timer signs them, the witness gets them.
            Assert.True(witness.WaitFor(tamper.HeadSeq(), TimeSpan.FromSeconds(20)), string.Join('\n', ca.Output));
            quiet = tamper.HeadSeq();
            var auditor = File.ReadAllText(Path.Combine(install.Home, "secrets", "auditor.token")).Trim();
            var officer = File.ReadAllText(Path.Combine(install.Home, "secrets", "officer1.token")).Trim();
            Assert.Equal(403, (int)(await Get(http, ca.Address, "api/v1/audit/checkpoints/latest", officer)).Status);
            var (status, latestBody) = await Get(http, ca.Address, "api/v1/audit/checkpoints/latest", auditor);
            Assert.Equal(200, status);
            Assert.Equal(File.ReadAllText(witness.PathOf(quiet)), latestBody);

            // One record on a quiet system (an auditor's query is audited): no append bound is near.
            Assert.Equal(200, (await Get(http, ca.Address, "api/v1/audit/revocations", auditor)).Status);
            last = tamper.HeadSeq();
            Assert.True(last > quiet);
            Assert.True(witness.WaitFor(last, TimeSpan.FromSeconds(20)), string.Join('\n', ca.Output));
            var (_, health) = await Get(http, ca.Address, "healthz", null);
            var auditWitness = JsonDocument.Parse(health).RootElement.GetProperty("auditWitness");
            Assert.Equal("ok", auditWitness.GetProperty("status").GetString());
            Assert.Equal(witness.Url.TrimEnd('/') + "/", auditWitness.GetProperty("target").GetString());
        }

        tamper.CutAfter(quiet);
        tamper.DropCheckpointsFrom(quiet + 1);
        var plain = install.Run("audit", "verify", "--key-sha256", pin);
        Assert.True(plain.ExitCode == 0, plain.ToString());
        var verify = install.Run("audit", "verify", "--witness", witness.Directory, "--key-sha256", pin);
        Assert.True(verify.ExitCode == 1, verify.ToString());
        Assert.Contains($"audit chain FAILED at record {quiet + 1}: Truncated: the chain ends at record {quiet} but witness checkpoint {last} ({witness.PathOf(last)}) vouches for record {last}", verify.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Audit_checkpoint_writes_what_the_witness_holds_and_bad_witness_input_is_refused_with_exit_2()
    {
        var (install, pin, tamper) = NewInstall();
        var file = Path.Combine(install.Home, "newest.json");
        var checkpoint = install.Run("audit", "checkpoint", "--out", file);
        Assert.True(checkpoint.ExitCode == 0, checkpoint.ToString());
        var head = tamper.HeadSeq();
        Assert.Contains($"checkpoint at record {head} (", checkpoint.Stdout, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllBytes(witness.PathOf(head)), File.ReadAllBytes(file));
        var ok = install.Run("audit", "verify", "--witness", file, "--key-sha256", string.Join(':', pin.ToUpperInvariant().Chunk(2).Select(c => new string(c))));
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Contains($"pinned key {pin}: every checkpoint is signed by it", ok.Stdout, StringComparison.Ordinal);
        Assert.Contains($"witness: the chain extends all 1 witness checkpoints (newest: record {head}, {file})", ok.Stdout, StringComparison.Ordinal);

        var broken = Path.Combine(install.Home, "broken.json");
        File.WriteAllText(broken, File.ReadAllText(file).Replace("\"seq\":", "\"seq\":\"", StringComparison.Ordinal));
        var malformed = install.Run("audit", "verify", "--witness", broken, "--key-sha256", pin);
        Assert.Equal(2, malformed.ExitCode);
        Assert.Contains($"error: witness file {broken}: not JSON", malformed.Stderr, StringComparison.Ordinal);
        var badHash = install.Run("audit", "verify", "--witness", file, "--key-sha256", pin[..40]);
        Assert.Equal(2, badHash.ExitCode);
        Assert.Contains($"error: --key-sha256 wants the SHA-256 of the checkpoint key's SubjectPublicKeyInfo as 64 hex digits (from the key ceremony record), not '{pin[..40]}'", badHash.Stderr, StringComparison.Ordinal);
        var unpinned = install.Run("audit", "verify", "--witness", file);
        Assert.Equal(2, unpinned.ExitCode);
        Assert.Contains("error: --witness needs --key-sha256", unpinned.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("audit chain OK", malformed.Stdout + badHash.Stdout + unpinned.Stdout, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        witness.Dispose();
        tampering.ForEach(t => t.Dispose());
        foreach (var name in postgresDatabases)
        {
            NpgsqlConnection.ClearAllPools();
            PostgresServer.Shared.Execute($"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        }
    }

    /// <summary>
    /// An install whose checkpoints go to the witness, after its key ceremony; the pin is what the
    /// auditor keeps from the ceremony: the checkpoint certificate's SubjectPublicKeyInfo SHA-256,
    /// computed by openssl.
    /// </summary>
    private (Install Install, string Pin, ChainTampering Tamper) NewInstall(int tailSeconds = 60, bool postgres = false)
    {
        var install = store.NewInstall();
        File.WriteAllText(Path.Combine(install.Home, "jpki.json"), JsonSerializer.Serialize(new
        {
            audit = new { witness = witness.Url, tailCheckpointSeconds = tailSeconds },
            feed = new { enabled = false },
        }));
        var connectionString = $"Data Source={install.DatabasePath}";
        if (postgres)
        {
            var name = "jpki_witness_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
            PostgresServer.Shared.Execute($"CREATE DATABASE {name}");
            postgresDatabases.Add(name);
            connectionString = new NpgsqlConnectionStringBuilder(PostgresServer.Shared.ConnectionString) { Database = name }.ToString();
            install.Environment["JPKI_DB"] = connectionString;
        }

        var init = install.Run("hsm", "init");
        Assert.True(init.ExitCode == 0, init.ToString());
        var pin = ExternalProcess.RunOrThrow("bash", "-c", $"openssl x509 -in '{install.CertPath("audit-checkpoint-1")}' -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum").Split(' ')[0];
        tampering.Add(new ChainTampering(connectionString, Path.Combine(install.Home, "audit", "checkpoints")));
        return (install, pin, tampering[^1]);
    }

    private static void Backup(Install install, int times)
    {
        for (var i = 1; i <= times; i++)
        {
            var backup = install.Run("hsm", "backup", "--out", Path.Combine(install.Home, $"backup-{i}.tar"));
            Assert.True(backup.ExitCode == 0, backup.ToString());
        }
    }

    private static async Task<(int Status, string Body)> Get(HttpClient http, Uri ca, string path, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(ca, path));
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await http.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
