using System.Buffers;
using System.Buffers.Binary;
using System.Data.Common;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Dapper;
using Jpki.Core.Configuration;
using Jpki.Core.Issuers;
using Jpki.Core.Profiles;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Npgsql;
using NpgsqlTypes;

namespace Jpki.Testing;

/// <summary>
/// Fills the store of an install with synthetic end-entity certificate rows for the national
/// scale benchmark (issue 19; docs/decisions/0940): no key is generated and nothing is signed,
/// but every row has what the store expects of an issued certificate — a 16-octet serial as
/// <see cref="SerialNumbers"/> makes them, the issuer key of the resident's prefecture and kind,
/// a municipality, a 32-octet resident key under the install's HMAC key id, five years of
/// validity, a unique SubjectPublicKeyInfo hash, delivered — and one in ten is revoked with a
/// cause, reason and source as the revoker writes them. The body (<c>der</c>) is the issuer's
/// root certificate, a stand-in of the right size: the responder and the CRL builder read
/// status columns, not the body.
/// <para>
/// Row <c>i</c> is a pure function of <c>i</c> and the prefecture list, so a fill is resumable:
/// batches commit in index order, each in one transaction, so the store always holds exactly
/// the rows 0..k-1, and k is found by a binary search on primary-key lookups of row serials
/// (no marker table, nothing to keep in step). Residents are <c>i / 2</c> (a signing and an
/// authentication certificate each), spread over the prefectures round-robin.
/// </para>
/// </summary>
public sealed class SyntheticFill
{
    public const string HmacKeyId = "resident-hmac-v1";

    private const string Columns =
        "serial, issuer_key_id, kind, municipality_code, resident_key, hmac_key_id, not_before_us, not_after_us, der, spki_sha256, delivery_state, status, revoked_at_us, reason, revocation_source, revocation_cause, created_us";

    /// <summary>The definitions of the indexes a running (or killed) fill dropped; absent otherwise.</summary>
    private const string DroppedIndexes = "synthetic_fill_dropped_indexes";

    /// <summary>SQLite page cache of the fill's connection, in KiB (negative: a size, not pages): the primary key's B-tree of 10 M random serials is ~0.5 GB.</summary>
    private const int SqliteCacheKib = -1_048_576;

    /// <summary>SQLite reads the file through a memory map (clamped to the library's maximum): every index build scans the whole table, ~1.5 KB a row.</summary>
    private const long SqliteMmapBytes = 8L << 30;

    /// <summary>Rows per SQLite statement: one JSON text of ~250 KB.</summary>
    private const int SqliteChunkRows = 1_000;

    /// <summary>A revoked row's first (and only) status change, as the revoker writes it: what the CRL builder needs to let the entry leave after the certificate expires.</summary>
    private const string ChangeColumns = "issuer_key_id, serial, status, reason, time_us";

    private static readonly RevocationCause[] SigningCauses = [RevocationCause.MoveOut, RevocationCause.AddressChange, RevocationCause.NameChange, RevocationCause.Death, RevocationCause.CardLost];
    private static readonly RevocationCause[] AuthenticationCauses = [RevocationCause.Death, RevocationCause.CardLost, RevocationCause.NoLongerNeeded];

    private readonly Database _database;
    private readonly List<SyntheticIssuerPair> _prefectures;
    private readonly long _epochUs;

    public SyntheticFill(Database database, JpkiSettings settings)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(settings);
        _database = database;
        using var db = database.OpenConnection();
        _prefectures = settings.Prefectures.OrderBy(p => p.Code, StringComparer.Ordinal).Select(p => new SyntheticIssuerPair(
            p.Code,
            Key(db, Core.Registration.ProfilePolicy.IssuerId(p, IssuerKind.Signing)),
            Key(db, Core.Registration.ProfilePolicy.IssuerId(p, IssuerKind.Authentication)))).ToList();

        // Validity is spread over the five years before the first issuer key's start (which does
        // not move when a fill resumes a day later): rows from the past, all valid today.
        _epochUs = _prefectures.Min(p => p.Signing.NotBeforeUs);
    }

    /// <summary>The issuer keys, per prefecture in code order.</summary>
    public IReadOnlyList<SyntheticIssuerPair> Prefectures => _prefectures;

    /// <summary>The serial of row <paramref name="index"/>: 16 octets, top bit clear, first octet non-zero (as <see cref="SerialNumbers.New"/>).</summary>
    public static string Serial(long index)
    {
        Span<byte> hash = stackalloc byte[32];
        Hash("serial", index, hash);
        hash[0] &= 0x7F;
        if (hash[0] == 0)
        {
            hash[0] = 1;
        }

        return Convert.ToHexStringLower(hash[..16]);
    }

    /// <summary>
    /// One row in ten is revoked, as many signing as authentication rows (rows alternate between
    /// the two kinds: an odd modulus of 10 alone would revoke only authentication certificates and
    /// leave every signing issuer's CRL empty).
    /// </summary>
    public static bool IsRevoked(long index) => index % 20 is 7 or 14;

    /// <summary>The issuer key of row <paramref name="index"/>.</summary>
    public IssuerKeyRow IssuerOf(long index)
    {
        var pair = _prefectures[(int)(index / 2 % _prefectures.Count)];
        return index % 2 == 0 ? pair.Signing : pair.Authentication;
    }

    /// <summary>How many rows the store holds (rows 0..k-1): a binary search on serial lookups.</summary>
    public long Committed()
    {
        using var db = _database.OpenConnection();
        using var command = db.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM certificates WHERE serial = @serial";
        var parameter = command.CreateParameter();
        parameter.ParameterName = "serial";
        command.Parameters.Add(parameter);
        bool Exists(long index)
        {
            parameter.Value = Serial(index);
            return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) > 0;
        }

        if (!Exists(0))
        {
            return 0;
        }

        // Exponential, then binary: Exists(low) is true, Exists(high) false.
        long low = 0, high = 1;
        while (Exists(high))
        {
            low = high;
            high *= 2;
        }

        while (high - low > 1)
        {
            var middle = low + ((high - low) / 2);
            if (Exists(middle))
            {
                low = middle;
            }
            else
            {
                high = middle;
            }
        }

        return high;
    }

    /// <summary>
    /// A run that adds at least this many rows (and at least as many as the store holds) drops
    /// the secondary indexes of <c>certificates</c> and <c>status_changes</c> first and builds
    /// them again at the end: random serials, SPKI hashes and resident keys in six B-trees cost a
    /// page write each per row, and one sorted build per index is far cheaper (docs/decisions/0960).
    /// </summary>
    public long DropIndexesFrom { get; init; } = 100_000;

    /// <summary>
    /// Adds rows until the store holds <paramref name="rows"/> (resuming after what it holds);
    /// <paramref name="progress"/> gets (held, target, rows/s of this run) after every batch.
    /// Returns how many rows this run added and their rate, the index builds included. Every run
    /// ends with the secondary indexes in place, also one that adds nothing after a fill killed
    /// while they were dropped.
    /// </summary>
    public (long Added, double RowsPerSecond) Run(long rows, int batchRows, Action<long, long, double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchRows);
        var start = Committed();
        var clock = Stopwatch.StartNew();
        var next = start;
        if (rows - start >= Math.Max(DropIndexesFrom, start))
        {
            DropSecondaryIndexes();
        }

        while (next < rows)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = (int)Math.Min(batchRows, rows - next);
            using (var tx = _database.BeginWrite())
            {
                InsertBatch(tx, next, count);
                tx.Commit();
            }

            next += count;
            progress?.Invoke(next, rows, (next - start) / Math.Max(clock.Elapsed.TotalSeconds, 1e-3));
        }

        RestoreSecondaryIndexes();
        return (next - start, (next - start) / Math.Max(clock.Elapsed.TotalSeconds, 1e-3));
    }

    /// <summary>
    /// Drops the secondary indexes of <c>certificates</c> and <c>status_changes</c> (not the
    /// primary keys: the resume search and the inserts need them) and records their definitions
    /// in <c>synthetic_fill_dropped_indexes</c> in the same transaction, so a fill killed at any
    /// point leaves either the indexes or their definitions, never neither.
    /// </summary>
    public void DropSecondaryIndexes()
    {
        using var tx = _database.BeginWrite();
        tx.Execute($"CREATE TABLE IF NOT EXISTS {DroppedIndexes} (name TEXT PRIMARY KEY, definition TEXT NOT NULL)");
        var indexes = tx.Query<(string Name, string Definition)>(tx.Dialect == StoreDialect.Postgres
            ? """
              SELECT i.indexname AS Name, i.indexdef AS Definition FROM pg_indexes i
              WHERE i.schemaname = current_schema() AND i.tablename IN ('certificates', 'status_changes')
                AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)
              ORDER BY i.indexname
              """
            : "SELECT name AS Name, sql AS Definition FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('certificates', 'status_changes') AND sql IS NOT NULL ORDER BY name").AsList();
        foreach (var (name, definition) in indexes)
        {
            tx.Execute($"INSERT INTO {DroppedIndexes} (name, definition) VALUES (@name, @definition)", new { name, definition });
            tx.Execute($"DROP INDEX {name}");
        }

        tx.Commit();
    }

    /// <summary>Builds every index <see cref="DropSecondaryIndexes"/> recorded, in one transaction, and forgets them; nothing when none is recorded.</summary>
    public void RestoreSecondaryIndexes()
    {
        using var tx = _database.BeginWrite();
        var exists = tx.Dialect == StoreDialect.Postgres
            ? tx.QuerySingle<bool>($"SELECT to_regclass('{DroppedIndexes}') IS NOT NULL")
            : tx.QuerySingle<long>($"SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{DroppedIndexes}'") > 0;
        if (!exists)
        {
            return;
        }

        if (tx.Dialect == StoreDialect.Sqlite)
        {
            // The sorter of CREATE INDEX keeps this many pages in memory before it spills to temp files.
            tx.Execute($"PRAGMA cache_size = {SqliteCacheKib}; PRAGMA mmap_size = {SqliteMmapBytes}");
        }
        else
        {
            tx.Execute("SET LOCAL maintenance_work_mem = '512MB'");
        }

        foreach (var definition in tx.Query<string>($"SELECT definition FROM {DroppedIndexes} ORDER BY name").AsList())
        {
            tx.Execute(definition);
        }

        tx.Execute($"DROP TABLE {DroppedIndexes}");
        tx.Commit();
    }

    /// <summary>The secondary indexes of the filled tables, as their names (a test compares them before and after a fill).</summary>
    public IReadOnlyList<string> SecondaryIndexes()
    {
        using var db = _database.OpenConnection();
        return db.Query<string>(_database.Dialect == StoreDialect.Postgres
            ? "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN ('certificates', 'status_changes') ORDER BY indexname"
            : "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('certificates', 'status_changes') AND sql IS NOT NULL ORDER BY name").AsList();
    }

    /// <summary>
    /// Inserts rows <paramref name="first"/>.. in <paramref name="tx"/> (COPY on PostgreSQL, INSERT … SELECT
    /// from JSON chunks on SQLite), and a <c>status_changes</c> row for each revoked one;
    /// <see cref="Run"/> commits each batch, a test may roll one back as a killed fill would leave it.
    /// </summary>
    public void InsertBatch(WriteTransaction tx, long first, int count)
    {
        ArgumentNullException.ThrowIfNull(tx);
        if (tx.Dialect == StoreDialect.Postgres)
        {
            Copy((NpgsqlConnection)tx.Connection, first, count);
        }
        else
        {
            InsertJson(tx, first, count);
        }
    }

    /// <summary>The fields of row <paramref name="index"/>, as the store holds them.</summary>
    public SyntheticRow Row(long index)
    {
        Span<byte> detail = stackalloc byte[32];
        Hash("detail", index, detail);
        var issuer = IssuerOf(index);
        var signing = index % 2 == 0;
        var pair = _prefectures[(int)(index / 2 % _prefectures.Count)];
        var resident = index / 2;

        // Issued some time in the 5 years before the epoch; valid 5 years from then.
        var ageUs = (long)(BinaryPrimitives.ReadUInt64BigEndian(detail) % (ulong)(5L * 365 * 86_400_000_000L));
        var notBefore = _epochUs - ageUs;
        var notAfter = notBefore + (5L * 365 * 86_400_000_000L);
        var municipality = pair.Code == "35"
            ? Municipalities.Codes[(int)(resident % Municipalities.Codes.Count)]
            : pair.Code + "2010";
        var residentKey = new byte[32];
        Hash("resident", resident, residentKey);
        var spki = new byte[32];
        Hash("spki", index, spki);
        RevocationCause? cause = null;
        long? revokedAt = null;
        int? reason = null;
        string? source = null;
        if (IsRevoked(index))
        {
            var causes = signing ? SigningCauses : AuthenticationCauses;
            cause = causes[detail[8] % causes.Length];
            var rule = RevocationRules.For(cause.Value);
            revokedAt = notBefore + (ageUs / 2);
            reason = (int)(rule.Reason ?? RevocationReason.Unspecified);
            source = rule.RequestedBy.HasFlag(RevocationRequester.JukiNet) ? $"jukinet:{resident}" : $"request:synthetic-{index}";
        }

        return new SyntheticRow(
            Serial(index),
            issuer.Id,
            signing ? "signing" : "authentication",
            municipality,
            residentKey,
            notBefore,
            notAfter,
            issuer.CertificateDer!,
            Convert.ToHexStringLower(spki),
            revokedAt,
            reason,
            source,
            cause is { } c ? RevocationRules.WireName(c) : null);
    }

    private static IssuerKeyRow Key(DbConnection db, string issuerId) =>
        IssuerStore.ListKeys(db, issuerId).FirstOrDefault(k => k.CertificateDer is not null)
        ?? throw new InvalidOperationException($"issuer '{issuerId}' has no key with a root certificate: run the ceremony (hsm init) first");

    private static void Hash(string purpose, long index, Span<byte> into)
    {
        Span<byte> input = stackalloc byte[48];
        input.Clear();
        var prefix = System.Text.Encoding.ASCII.GetBytes("jpki-synthetic-", input);
        System.Text.Encoding.ASCII.GetBytes(purpose, input[prefix..]);
        BinaryPrimitives.WriteInt64BigEndian(input[40..], index);
        SHA256.HashData(input, into);
    }

    /// <summary>
    /// SQLite: the batch in chunks of <see cref="SqliteChunkRows"/> rows, each chunk one JSON
    /// array bound to one INSERT … SELECT over <c>json_each</c> (and one more for the revoked
    /// rows' status changes), with a page cache large enough for the primary key's B-tree. A
    /// prepared INSERT rebound per row spent most of its time binding 17 parameters by name;
    /// the default 2 MB cache made every random serial read and write back a page once the
    /// store passed a few hundred thousand rows (docs/decisions/0960).
    /// </summary>
    private void InsertJson(WriteTransaction tx, long first, int count)
    {
        tx.Execute($"PRAGMA cache_size = {SqliteCacheKib}; PRAGMA mmap_size = {SqliteMmapBytes}");
        using var certificates = JsonInsert(tx, $"""
            INSERT INTO certificates ({Columns})
            SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, unhex(value ->> 4), '{HmacKeyId}', value ->> 5, value ->> 6,
                   (SELECT k.certificate_der FROM issuer_keys k WHERE k.id = value ->> 1), value ->> 7, 'delivered',
                   CASE WHEN value ->> 8 IS NULL THEN 'good' ELSE 'revoked' END, value ->> 8, value ->> 9, value ->> 10, value ->> 11, value ->> 5
            FROM json_each(@rows) ORDER BY key
            """);
        using var changes = JsonInsert(tx, $"""
            INSERT INTO status_changes ({ChangeColumns})
            SELECT value ->> 1, value ->> 0, 'revoked', value ->> 9, value ->> 8
            FROM json_each(@rows) WHERE value ->> 8 IS NOT NULL ORDER BY key
            """);
        var buffer = new ArrayBufferWriter<byte>(1 << 20);
        for (var chunk = first; chunk < first + count; chunk += SqliteChunkRows)
        {
            var rows = (int)Math.Min(SqliteChunkRows, first + count - chunk);
            buffer.ResetWrittenCount();
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartArray();
                for (var i = chunk; i < chunk + rows; i++)
                {
                    var r = Row(i);
                    json.WriteStartArray();
                    json.WriteStringValue(r.Serial);
                    json.WriteStringValue(r.IssuerKeyId);
                    json.WriteStringValue(r.Kind);
                    json.WriteStringValue(r.MunicipalityCode);
                    json.WriteStringValue(Convert.ToHexString(r.ResidentKey));
                    json.WriteNumberValue(r.NotBeforeUs);
                    json.WriteNumberValue(r.NotAfterUs);
                    json.WriteStringValue(r.SpkiSha256);
                    if (r.RevokedAtUs is { } revokedAt)
                    {
                        json.WriteNumberValue(revokedAt);
                        json.WriteNumberValue(r.Reason!.Value);
                        json.WriteStringValue(r.RevocationSource);
                        json.WriteStringValue(r.RevocationCause);
                    }

                    json.WriteEndArray();
                }

                json.WriteEndArray();
            }

            var text = System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
            certificates.Parameters[0].Value = text;
            if (certificates.ExecuteNonQuery() != rows)
            {
                throw new InvalidOperationException($"rows {chunk}..{chunk + rows - 1}: not every row was inserted");
            }

            changes.Parameters[0].Value = text;
            changes.ExecuteNonQuery();
        }
    }

    private static DbCommand JsonInsert(WriteTransaction tx, string sql)
    {
        var command = tx.Connection.CreateCommand();
        command.Transaction = tx.Transaction;
        command.CommandText = sql;
        var parameter = command.CreateParameter();
        parameter.ParameterName = "@rows";
        command.Parameters.Add(parameter);
        command.Prepare();
        return command;
    }

    /// <summary>PostgreSQL: binary COPY of the batch's certificates, then of its revoked ones' status changes, inside the batch's transaction.</summary>
    private void Copy(NpgsqlConnection connection, long first, int count)
    {
        using (var writer = connection.BeginBinaryImport($"COPY certificates ({Columns}) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = first; i < first + count; i++)
            {
                var r = Row(i);
                writer.StartRow();
                writer.Write(r.Serial, NpgsqlDbType.Text);
                writer.Write(r.IssuerKeyId, NpgsqlDbType.Text);
                writer.Write(r.Kind, NpgsqlDbType.Text);
                writer.Write(r.MunicipalityCode, NpgsqlDbType.Text);
                writer.Write(r.ResidentKey, NpgsqlDbType.Bytea);
                writer.Write(HmacKeyId, NpgsqlDbType.Text);
                writer.Write(r.NotBeforeUs, NpgsqlDbType.Bigint);
                writer.Write(r.NotAfterUs, NpgsqlDbType.Bigint);
                writer.Write(r.Der, NpgsqlDbType.Bytea);
                writer.Write(r.SpkiSha256, NpgsqlDbType.Text);
                writer.Write("delivered", NpgsqlDbType.Text);
                writer.Write(r.RevokedAtUs is null ? "good" : "revoked", NpgsqlDbType.Text);
                WriteNullable(writer, r.RevokedAtUs, NpgsqlDbType.Bigint);
                WriteNullable(writer, r.Reason, NpgsqlDbType.Integer);
                WriteNullable(writer, r.RevocationSource, NpgsqlDbType.Text);
                WriteNullable(writer, r.RevocationCause, NpgsqlDbType.Text);
                writer.Write(r.NotBeforeUs, NpgsqlDbType.Bigint);
            }

            writer.Complete();
        }

        using var changes = connection.BeginBinaryImport($"COPY status_changes ({ChangeColumns}) FROM STDIN (FORMAT BINARY)");
        for (var i = first; i < first + count; i++)
        {
            if (!IsRevoked(i))
            {
                continue;
            }

            var r = Row(i);
            changes.StartRow();
            changes.Write(r.IssuerKeyId, NpgsqlDbType.Text);
            changes.Write(r.Serial, NpgsqlDbType.Text);
            changes.Write("revoked", NpgsqlDbType.Text);
            changes.Write(r.Reason!.Value, NpgsqlDbType.Integer);
            changes.Write(r.RevokedAtUs!.Value, NpgsqlDbType.Bigint);
        }

        changes.Complete();
    }

    private static void WriteNullable(NpgsqlBinaryImporter writer, long? value, NpgsqlDbType type)
    {
        if (value is { } v)
        {
            writer.Write(v, type);
        }
        else
        {
            writer.WriteNull();
        }
    }

    private static void WriteNullable(NpgsqlBinaryImporter writer, int? value, NpgsqlDbType type)
    {
        if (value is { } v)
        {
            writer.Write(v, type);
        }
        else
        {
            writer.WriteNull();
        }
    }

    private static void WriteNullable(NpgsqlBinaryImporter writer, string? value, NpgsqlDbType type)
    {
        if (value is not null)
        {
            writer.Write(value, type);
        }
        else
        {
            writer.WriteNull();
        }
    }
}

/// <summary>The signing and authentication issuer keys of one prefecture.</summary>
public sealed record SyntheticIssuerPair(string Code, IssuerKeyRow Signing, IssuerKeyRow Authentication);

/// <summary>One synthetic certificate row (revoked when <see cref="RevokedAtUs"/> is set).</summary>
public sealed record SyntheticRow(
    string Serial,
    string IssuerKeyId,
    string Kind,
    string MunicipalityCode,
    byte[] ResidentKey,
    long NotBeforeUs,
    long NotAfterUs,
    byte[] Der,
    string SpkiSha256,
    long? RevokedAtUs,
    int? Reason,
    string? RevocationSource,
    string? RevocationCause);
