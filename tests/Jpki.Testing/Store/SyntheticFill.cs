using System.Buffers.Binary;
using System.Data.Common;
using System.Diagnostics;
using System.Security.Cryptography;
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

    /// <summary>One row in ten is revoked.</summary>
    public static bool IsRevoked(long index) => index % 10 == 7;

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
    /// Adds rows until the store holds <paramref name="rows"/> (resuming after what it holds);
    /// <paramref name="progress"/> gets (held, target, rows/s of this run) after every batch.
    /// Returns how many rows this run added and their rate.
    /// </summary>
    public (long Added, double RowsPerSecond) Run(long rows, int batchRows, Action<long, long, double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchRows);
        var start = Committed();
        var clock = Stopwatch.StartNew();
        var next = start;
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

        return (next - start, (next - start) / Math.Max(clock.Elapsed.TotalSeconds, 1e-3));
    }

    /// <summary>
    /// Inserts rows <paramref name="first"/>.. in <paramref name="tx"/> (COPY on PostgreSQL, a
    /// prepared INSERT on SQLite); <see cref="Run"/> commits each batch, a test may roll one back
    /// as a killed fill would leave it.
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
            InsertPrepared(tx, first, count);
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
        System.Text.Encoding.ASCII.GetBytes("jpki-synthetic-" + purpose, input);
        BinaryPrimitives.WriteInt64BigEndian(input[40..], index);
        SHA256.HashData(input, into);
    }

    /// <summary>SQLite: one prepared INSERT, its parameters rebound per row, all in the batch's transaction.</summary>
    private void InsertPrepared(WriteTransaction tx, long first, int count)
    {
        using var command = tx.Connection.CreateCommand();
        command.Transaction = tx.Transaction;
        var names = Columns.Split(", ");
        command.CommandText = $"INSERT INTO certificates ({Columns}) VALUES ({string.Join(", ", names.Select(n => "@" + n))})";
        var parameters = names.Select(n =>
        {
            var p = command.CreateParameter();
            p.ParameterName = n;
            command.Parameters.Add(p);
            return p;
        }).ToArray();
        command.Prepare();
        for (var i = first; i < first + count; i++)
        {
            var r = Row(i);
            object?[] values = [r.Serial, r.IssuerKeyId, r.Kind, r.MunicipalityCode, r.ResidentKey, HmacKeyId, r.NotBeforeUs, r.NotAfterUs, r.Der, r.SpkiSha256, "delivered", r.RevokedAtUs is null ? "good" : "revoked", r.RevokedAtUs, r.Reason, r.RevocationSource, r.RevocationCause, r.NotBeforeUs];
            for (var j = 0; j < values.Length; j++)
            {
                parameters[j].Value = values[j] ?? DBNull.Value;
            }

            command.ExecuteNonQuery();
        }
    }

    /// <summary>PostgreSQL: binary COPY of the batch, inside the batch's transaction.</summary>
    private void Copy(NpgsqlConnection connection, long first, int count)
    {
        using var writer = connection.BeginBinaryImport($"COPY certificates ({Columns}) FROM STDIN (FORMAT BINARY)");
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
