using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Jpki.Hsm;

namespace Jpki.Core.Tests.Audit;

/// <summary>
/// The witness on a real store of each engine with real SoftHSM keys: pushes that fail without
/// failing the audited transaction and are delivered once the witness is back, a witness that
/// never gives up what it holds, and a checkpoint-key renewal as a checkpoint signed by both keys.
/// </summary>
public abstract class AuditWitnessTests(IStoreFixture fixture)
{
    private readonly Pkcs11Signer signer = TestHsm.Instance.Checkpoint;

    [Fact]
    public async Task A_push_that_fails_does_not_fail_the_append_and_is_retried_until_the_witness_takes_it()
    {
        using var database = NewStore(nameof(A_push_that_fails_does_not_fail_the_append_and_is_retried_until_the_witness_takes_it));
        var witnessDirectory = Path.Combine(fixture.ScratchDirectory, "witness-" + Guid.NewGuid().ToString("N"));
        var logger = new CapturingLogger();
        using var pusher = new AuditWitnessPusher(new DirectoryAuditWitness(witnessDirectory), database, logger);
        var log = new AuditLog(signer, Options(database), pusher.Notify);
        using var stop = new CancellationTokenSource();
        var running = pusher.RunAsync(TimeSpan.FromMilliseconds(100), stop.Token);

        Append(database, log, 3);
        Assert.NotNull(log.Checkpoint(database));
        await Until(() => pusher.Status.ConsecutiveFailures >= 2);
        Assert.Contains($"the witness directory {witnessDirectory} does not exist", pusher.Status.LastError, StringComparison.Ordinal);
        Assert.Contains($"Error: audit witness {witnessDirectory}: push failed", logger.All, StringComparison.Ordinal);
        Assert.Equal(3L, Head(database));

        Directory.CreateDirectory(witnessDirectory);
        await Until(() => pusher.Status.WitnessedSeq == 3);
        Assert.True(pusher.Status.Healthy);
        Append(database, log, 2);
        Assert.NotNull(log.Checkpoint(database));
        await Until(() => pusher.Status.WitnessedSeq == 5);
        await stop.CancelAsync();
        await running;

        Assert.Equal([AuditWitnesses.FileName(1), AuditWitnesses.FileName(3), AuditWitnesses.FileName(5)], Directory.EnumerateFiles(witnessDirectory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var held = AuditCheckpointDocument.Load(Path.Combine(witnessDirectory, AuditWitnesses.FileName(5)));
        Assert.Equal((5L, AuditCheckpoint.KeyIdOf(signer.SubjectPublicKeyInfo)), (held.Seq, held.Signatures[0].KeyId));
        Assert.Contains("pushes work again", logger.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_directory_witness_never_replaces_a_checkpoint_it_holds()
    {
        var directory = Directory.CreateTempSubdirectory("jpki-witness-").FullName;
        var witness = new DirectoryAuditWitness(directory);
        var statement = AuditCheckpoint.StatementFor(5, new string('1', 64), 1000);
        var key = new CheckpointKey(AuditCheckpoint.KeyIdOf(signer.SubjectPublicKeyInfo), signer.SubjectPublicKeyInfo, null);
        var held = new AuditCheckpointDocument(5, new string('1', 64), 1000, [new CheckpointSignature(key.KeyId, Sign(signer, statement))], [key]);
        await witness.PushAsync(held, CancellationToken.None);
        await witness.PushAsync(held, CancellationToken.None);
        var rewritten = held with { Hash = new string('2', 64), Signatures = [new CheckpointSignature(key.KeyId, Sign(signer, AuditCheckpoint.StatementFor(5, new string('2', 64), 1000)))] };
        var refused = await Assert.ThrowsAsync<AuditWitnessPushException>(() => witness.PushAsync(rewritten, CancellationToken.None));
        Assert.True(refused.Conflict);
        Assert.Contains("already holds a different checkpoint at seq 5", refused.Message, StringComparison.Ordinal);
        Assert.Equal(held.ToUtf8Bytes(), File.ReadAllBytes(Path.Combine(directory, AuditWitnesses.FileName(5))));
        Assert.Single(Directory.EnumerateFileSystemEntries(directory));
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void A_renewal_checkpoint_signed_by_both_keys_lets_the_new_key_sign_the_checkpoints_after_it()
    {
        using var database = NewStore(nameof(A_renewal_checkpoint_signed_by_both_keys_lets_the_new_key_sign_the_checkpoints_after_it));
        var label = "audit-checkpoint-renewed-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        TestHsm.Instance.Token.GenerateKeyPair(KeyKind.EcP256, label);
        using var renewed = Pkcs11Signer.Open(TestHsm.Instance.Pool, label);
        var options = Options(database);
        Append(database, new AuditLog(signer, options), 4);
        var renewal = new AuditLog(signer, options).Checkpoint(database)!;
        Append(database, new AuditLog(renewed, options), 3);
        new AuditLog(renewed, options).Checkpoint(database);

        var pin = AuditCheckpoint.KeyIdOf(signer.SubjectPublicKeyInfo);
        var newKey = AuditCheckpoint.KeyIdOf(renewed.SubjectPublicKeyInfo);
        var inputs = new AuditVerifyInputs
        {
            CheckpointPublicKeys = [signer.SubjectPublicKeyInfo, renewed.SubjectPublicKeyInfo],
            CheckpointFiles = [options.CheckpointFilePath],
            PinnedKeySha256 = pin,
        };
        var unintroduced = AuditVerifier.Verify(database, inputs);
        Assert.Equal((AuditProblem.CheckpointUnknownKey, 7L), (unintroduced.Problem, unintroduced.Seq));
        Assert.Contains($"was signed by key {newKey}, not by the pinned key", unintroduced.Message, StringComparison.Ordinal);

        // The renewal: the checkpoint at 4 signed by the old key (as stored) and by the new one, as a witness file.
        var path = Path.Combine(fixture.ScratchDirectory, label + ".json");
        var both = AuditCheckpointDocument.Parse(
            System.Text.Encoding.UTF8.GetString(new AuditCheckpointDocument(renewal.Seq, renewal.Hash, renewal.TimeUs, [new CheckpointSignature(pin, renewal.Signature), new CheckpointSignature(newKey, Sign(renewed, renewal.Statement()))], [new CheckpointKey(pin, signer.SubjectPublicKeyInfo, null), new CheckpointKey(newKey, renewed.SubjectPublicKeyInfo, null)]).ToUtf8Bytes()),
            path);
        Assert.Equal(2, both.Signatures.Count);
        var verified = AuditVerifier.Verify(database, inputs with { Witness = [both] });
        Assert.True(verified.IsValid, verified.ToString());
        Assert.Equal((7L, 3), (verified.RecordsChecked, verified.CheckpointsChecked));

        var forged = both with { Signatures = [both.Signatures[0], new CheckpointSignature(newKey, Sign(renewed, AuditCheckpoint.StatementFor(4, new string('0', 64), 1)))] };
        var refused = AuditVerifier.Verify(database, inputs with { Witness = [forged] });
        Assert.Equal((AuditProblem.CheckpointSignatureInvalid, CheckpointSource.Witness, path), (refused.Problem, refused.Source, refused.Origin));
        Assert.Contains($"witness checkpoint 4 ({path}): the signature by key {newKey} does not verify", refused.Message, StringComparison.Ordinal);
    }

    /// <summary>A migrated store listing the test checkpoint key with its certificate, as the ceremony leaves it.</summary>
    private Database NewStore(string name)
    {
        var database = new Database(fixture.CreateStore(name), TimeProvider.System);
        Migrator.ApplyPending(database);
        var certificate = new Jpki.Core.Profiles.CheckpointCertificateBuilder(signer, SignatureAlgorithm.EcdsaSha256).Build(new Jpki.Core.Profiles.CheckpointCertificateRequest
        {
            InstallName = "witness tests",
            KeyNumber = 1,
            SerialNumber = Jpki.Core.Profiles.SerialNumbers.New(),
            IssuedAt = DateTimeOffset.UtcNow,
        });
        using var tx = database.BeginWrite();
        Jpki.Core.Issuers.IssuerStore.InsertInstallKey(tx, new Jpki.Core.Issuers.InstallKeyRow
        {
            Id = "audit-checkpoint-1",
            Purpose = "audit-checkpoint",
            HsmKeyLabel = TestHsm.CheckpointLabel,
            CertificateDer = certificate,
            CreatedUs = Instant.NowMicros(TimeProvider.System),
        });
        tx.Commit();
        return database;
    }

    private AuditOptions Options(Database database) => new()
    {
        CheckpointEveryRecords = 1000,
        CheckpointInterval = TimeSpan.FromHours(1),
        CheckpointFilePath = Path.Combine(fixture.ScratchDirectory, Guid.NewGuid().ToString("N"), "checkpoints"),
    };

    private static void Append(Database database, AuditLog log, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var tx = database.BeginWrite();
            log.Append(tx, new AuditRecord("officer1", "test.record", $"n-{i}", new JsonObject { ["n"] = i }));
            tx.Commit();
        }
    }

    private static long Head(Database database)
    {
        using var connection = database.OpenConnection();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq FROM chain_head WHERE id = 1";
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static byte[] Sign(Pkcs11Signer key, byte[] statement) => key.Sign(SignatureAlgorithm.DefaultFor(key.KeyKind), statement);

    private static async Task Until(Func<bool> condition)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(20), "condition not reached in 20 s");
            await Task.Delay(50);
        }
    }
}

public sealed class SqliteAuditWitnessTests(SqliteStoreFixture fixture) : AuditWitnessTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresAuditWitnessTests(PostgresStoreFixture fixture) : AuditWitnessTests(fixture), IClassFixture<PostgresStoreFixture>;
