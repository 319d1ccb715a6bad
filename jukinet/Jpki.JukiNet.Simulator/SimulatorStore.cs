using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Dapper;
using Microsoft.Data.Sqlite;

namespace Jpki.JukiNet.Simulator;

/// <summary>
/// The simulator's own SQLite file (not the CA's store): the resident registry and the change
/// log whose INTEGER PRIMARY KEY AUTOINCREMENT is the one global, strictly increasing sequence.
/// Plain SQL through Dapper; every change is applied and logged in one IMMEDIATE transaction.
/// </summary>
public sealed class SimulatorStore
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS residents (
            resident_code       TEXT PRIMARY KEY,
            name                TEXT NOT NULL,
            name_substitutes    TEXT NOT NULL,
            date_of_birth       TEXT NOT NULL,   -- EYYYYMMDD
            sex                 INTEGER NOT NULL,
            address             TEXT NOT NULL,
            address_substitutes TEXT NOT NULL,
            municipality_code   TEXT NOT NULL,
            status              TEXT NOT NULL,
            sequence            INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS changes (
            sequence            INTEGER PRIMARY KEY AUTOINCREMENT,
            resident_code       TEXT NOT NULL,
            type                TEXT NOT NULL,
            effective_date      TEXT NOT NULL,   -- YYYY-MM-DD
            name                TEXT,
            name_substitutes    TEXT,
            sex                 INTEGER,
            date_of_birth       TEXT,
            address             TEXT,
            address_substitutes TEXT,
            municipality_code   TEXT,
            continued_use       INTEGER
        );
        CREATE TABLE IF NOT EXISTS population (
            seed      INTEGER NOT NULL,
            residents INTEGER NOT NULL
        );
        """;

    private const string ResidentColumns = """
        resident_code AS ResidentCode, name AS Name, name_substitutes AS NameSubstitutes,
        date_of_birth AS DateOfBirth, sex AS Sex, address AS Address,
        address_substitutes AS AddressSubstitutes, municipality_code AS MunicipalityCode,
        status AS Status, sequence AS Sequence
        """;

    private const string InsertResident = """
        INSERT INTO residents (resident_code, name, name_substitutes, date_of_birth, sex, address,
                               address_substitutes, municipality_code, status, sequence)
        VALUES (@ResidentCode, @Name, @NameSubstitutes, @DateOfBirth, @Sex, @Address,
                @AddressSubstitutes, @MunicipalityCode, @Status, @Sequence)
        """;

    private readonly string connectionString;

    public SimulatorStore(string databasePath)
        : this(databasePath, SqliteOpenMode.ReadWriteCreate)
    {
    }

    private SimulatorStore(string databasePath, SqliteOpenMode mode)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = mode,
            DefaultTimeout = 30,
        }.ToString();
    }

    /// <summary>
    /// An existing file, opened for reading only (<c>./jpki residents</c>): it is never created or
    /// changed, and a running simulator keeps writing to it (WAL: readers do not block it).
    /// </summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="databasePath"/>.</exception>
    public static SimulatorStore OpenReadOnly(string databasePath) =>
        File.Exists(databasePath)
            ? new SimulatorStore(databasePath, SqliteOpenMode.ReadOnly)
            : throw new FileNotFoundException($"no Juki-Net simulator database at {databasePath} (./jpki up makes it on its first start)", databasePath);

    /// <summary>Residents in code order, of one municipality or all, at most <paramref name="limit"/>.</summary>
    public async Task<IReadOnlyList<ResidentRecord>> ListResidentsAsync(MunicipalityCode? municipality, int limit)
    {
        await using var connection = Open();
        var rows = await connection.QueryAsync<ResidentRow>(
            $"SELECT {ResidentColumns} FROM residents WHERE @municipality IS NULL OR municipality_code = @municipality ORDER BY resident_code LIMIT @limit",
            new { municipality = municipality?.Value, limit });
        return rows.Select(r => r.ToRecord()).ToList();
    }

    /// <summary>
    /// Creates the schema and, on the first start only, the synthetic population. A later start
    /// keeps what the file holds, whatever <paramref name="residents"/> and <paramref name="seed"/> say.
    /// Returns whether a population was generated now.
    /// </summary>
    public bool Initialize(int residents, int seed)
    {
        using var connection = Open();
        connection.Execute("PRAGMA journal_mode = WAL;");
        connection.Execute(Schema);
        using var transaction = connection.BeginTransaction();
        if (connection.ExecuteScalar<long>("SELECT COUNT(*) FROM population", transaction: transaction) > 0)
        {
            return false;
        }

        var population = new PopulationGenerator(seed).Generate(residents);
        connection.Execute(InsertResident, population.Select(ResidentRow.From), transaction);
        connection.Execute(
            "INSERT INTO population (seed, residents) VALUES (@seed, @residents)",
            new { seed, residents },
            transaction);
        transaction.Commit();
        return true;
    }

    public async Task<ResidentRecord?> FindResidentAsync(ResidentCode code)
    {
        ArgumentNullException.ThrowIfNull(code);
        await using var connection = Open();
        var row = await connection.QuerySingleOrDefaultAsync<ResidentRow>(
            $"SELECT {ResidentColumns} FROM residents WHERE resident_code = @code",
            new { code = code.Digits });
        return row?.ToRecord();
    }

    public async Task<long> CountResidentsAsync()
    {
        await using var connection = Open();
        return await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM residents");
    }

    /// <summary>Registers a new resident under a fresh random code (sequence 0: no change yet).</summary>
    public async Task<ResidentCode> AddResidentAsync(Func<ResidentCode, ResidentRecord> makeRecord)
    {
        ArgumentNullException.ThrowIfNull(makeRecord);
        await using var connection = Open();
        await using var transaction = connection.BeginTransaction();
        while (true)
        {
            var code = ResidentCode.FromFirstTen(
                RandomNumberGenerator.GetInt32(0, 100_000).ToString("D5", CultureInfo.InvariantCulture)
                + RandomNumberGenerator.GetInt32(0, 100_000).ToString("D5", CultureInfo.InvariantCulture));
            var taken = await connection.ExecuteScalarAsync<long>(
                "SELECT COUNT(*) FROM residents WHERE resident_code = @code", new { code = code.Digits }, transaction);
            if (taken == 0)
            {
                await connection.ExecuteAsync(InsertResident, ResidentRow.From(makeRecord(code)), transaction);
                await transaction.CommitAsync();
                return code;
            }
        }
    }

    /// <summary>
    /// A resident whose record can still change (registered or moved out): the first such code at
    /// or after <paramref name="from"/>, wrapping round; null when none is left. One index seek,
    /// so the change generator can draw residents at a high rate.
    /// </summary>
    public async Task<ResidentCode?> FindChangeableResidentAsync(string from)
    {
        await using var connection = Open();
        const string Changeable = "status IN ('registered', 'movedOut')";
        var code = await connection.QuerySingleOrDefaultAsync<string>(
            $"SELECT resident_code FROM residents WHERE resident_code >= @from AND {Changeable} ORDER BY resident_code LIMIT 1",
            new { from })
            ?? await connection.QuerySingleOrDefaultAsync<string>(
                $"SELECT resident_code FROM residents WHERE {Changeable} ORDER BY resident_code LIMIT 1");
        return code is null ? null : Jpki.JukiNet.ResidentCode.Parse(code);
    }

    /// <summary>
    /// Reads the resident under the write lock, lets <paramref name="apply"/> decide the change
    /// (or refuse it), logs the event under the next global sequence and stores the new record
    /// with that sequence — all in one transaction.
    /// </summary>
    public async Task<ChangeOutcome> ApplyChangeAsync(ResidentCode code, Func<ResidentRecord, ChangeDecision> apply)
    {
        ArgumentNullException.ThrowIfNull(code);
        ArgumentNullException.ThrowIfNull(apply);
        await using var connection = Open();
        // Microsoft.Data.Sqlite begins IMMEDIATE transactions: the write lock is taken before the read.
        await using var transaction = connection.BeginTransaction();
        var row = await connection.QuerySingleOrDefaultAsync<ResidentRow>(
            $"SELECT {ResidentColumns} FROM residents WHERE resident_code = @code",
            new { code = code.Digits },
            transaction);
        if (row is null)
        {
            return new ChangeOutcome.UnknownResident();
        }

        var decision = apply(row.ToRecord());
        if (decision.Refusal is not null)
        {
            return new ChangeOutcome.Refused(decision.Refusal, decision.Conflict);
        }

        var change = decision.Change!;
        var sequence = await connection.ExecuteScalarAsync<long>(
            """
            INSERT INTO changes (resident_code, type, effective_date, name, name_substitutes, sex, date_of_birth,
                                 address, address_substitutes, municipality_code, continued_use)
            VALUES (@ResidentCode, @Type, @EffectiveDate, @Name, @NameSubstitutes, @Sex, @DateOfBirth,
                    @Address, @AddressSubstitutes, @MunicipalityCode, @ContinuedUse)
            RETURNING sequence
            """,
            ChangeRow.From(change),
            transaction);
        var updated = decision.NewRecord! with { Sequence = sequence };
        await connection.ExecuteAsync(
            """
            UPDATE residents SET name = @Name, name_substitutes = @NameSubstitutes, date_of_birth = @DateOfBirth,
                   sex = @Sex, address = @Address, address_substitutes = @AddressSubstitutes,
                   municipality_code = @MunicipalityCode, status = @Status, sequence = @Sequence
            WHERE resident_code = @ResidentCode
            """,
            ResidentRow.From(updated),
            transaction);
        await transaction.CommitAsync();
        return new ChangeOutcome.Applied(sequence);
    }

    /// <summary>
    /// Up to <paramref name="limit"/> events after <paramref name="after"/> in sequence order, and the
    /// highest sequence of the log (0 when empty), read in one snapshot so the two agree.
    /// </summary>
    public async Task<(IReadOnlyList<ChangeEvent> Changes, long Last)> ReadChangesAsync(long after, int limit)
    {
        await using var connection = Open();
        await using var transaction = connection.BeginTransaction(deferred: true);
        var rows = await connection.QueryAsync<ChangeRow>(
            """
            SELECT sequence AS Sequence, resident_code AS ResidentCode, type AS Type, effective_date AS EffectiveDate,
                   name AS Name, name_substitutes AS NameSubstitutes, sex AS Sex, date_of_birth AS DateOfBirth,
                   address AS Address, address_substitutes AS AddressSubstitutes,
                   municipality_code AS MunicipalityCode, continued_use AS ContinuedUse
            FROM changes WHERE sequence > @after ORDER BY sequence LIMIT @limit
            """,
            new { after, limit },
            transaction);
        var last = await connection.ExecuteScalarAsync<long>("SELECT COALESCE(MAX(sequence), 0) FROM changes", transaction: transaction);
        return (rows.Select(r => r.ToEvent()).ToList(), last);
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        connection.Execute("PRAGMA busy_timeout = 10000;");
        return connection;
    }

    private static string EnumName<TEnum>(TEnum value)
        where TEnum : struct, Enum => JsonNamingPolicy.CamelCase.ConvertName(value.ToString());

    private static TEnum ParseEnum<TEnum>(string name)
        where TEnum : struct, Enum =>
        Enum.GetValues<TEnum>().First(v => EnumName(v) == name);

    private sealed class ResidentRow
    {
        public string ResidentCode { get; set; } = "";
        public string Name { get; set; } = "";
        public string NameSubstitutes { get; set; } = "";
        public string DateOfBirth { get; set; } = "";
        public long Sex { get; set; }
        public string Address { get; set; } = "";
        public string AddressSubstitutes { get; set; } = "";
        public string MunicipalityCode { get; set; } = "";
        public string Status { get; set; } = "";
        public long Sequence { get; set; }

        public static ResidentRow From(ResidentRecord record) => new()
        {
            ResidentCode = record.ResidentCode.Digits,
            Name = record.Name,
            NameSubstitutes = record.NameSubstitutes,
            DateOfBirth = record.DateOfBirth.ToJpki(),
            Sex = (long)record.Sex,
            Address = record.Address,
            AddressSubstitutes = record.AddressSubstitutes,
            MunicipalityCode = record.MunicipalityCode.Value,
            Status = EnumName(record.Status),
            Sequence = record.Sequence,
        };

        public ResidentRecord ToRecord() => new()
        {
            ResidentCode = Jpki.JukiNet.ResidentCode.Parse(ResidentCode),
            Name = Name,
            NameSubstitutes = NameSubstitutes,
            DateOfBirth = BirthDate.ParseJpki(DateOfBirth),
            Sex = (Sex)Sex,
            Address = Address,
            AddressSubstitutes = AddressSubstitutes,
            MunicipalityCode = Jpki.JukiNet.MunicipalityCode.Parse(MunicipalityCode),
            Status = ParseEnum<ResidentStatus>(Status),
            Sequence = Sequence,
        };
    }

    private sealed class ChangeRow
    {
        public long Sequence { get; set; }
        public string ResidentCode { get; set; } = "";
        public string Type { get; set; } = "";
        public string EffectiveDate { get; set; } = "";
        public string? Name { get; set; }
        public string? NameSubstitutes { get; set; }
        public long? Sex { get; set; }
        public string? DateOfBirth { get; set; }
        public string? Address { get; set; }
        public string? AddressSubstitutes { get; set; }
        public string? MunicipalityCode { get; set; }
        public long? ContinuedUse { get; set; }

        public static ChangeRow From(ChangeEvent change) => new()
        {
            ResidentCode = change.ResidentCode.Digits,
            Type = EnumName(change.Type),
            EffectiveDate = change.EffectiveDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            Name = change.Name,
            NameSubstitutes = change.NameSubstitutes,
            Sex = (long?)change.Sex,
            DateOfBirth = change.DateOfBirth?.ToJpki(),
            Address = change.Address,
            AddressSubstitutes = change.AddressSubstitutes,
            MunicipalityCode = change.MunicipalityCode?.Value,
            ContinuedUse = change.ContinuedUse is { } continued ? (continued ? 1 : 0) : null,
        };

        public ChangeEvent ToEvent() => new()
        {
            Sequence = Sequence,
            ResidentCode = Jpki.JukiNet.ResidentCode.Parse(ResidentCode),
            Type = ParseEnum<ChangeType>(Type),
            EffectiveDate = DateOnly.ParseExact(EffectiveDate, "yyyy-MM-dd", CultureInfo.InvariantCulture),
            Name = Name,
            NameSubstitutes = NameSubstitutes,
            Sex = (Sex?)Sex,
            DateOfBirth = DateOfBirth is null ? null : BirthDate.ParseJpki(DateOfBirth),
            Address = Address,
            AddressSubstitutes = AddressSubstitutes,
            MunicipalityCode = MunicipalityCode is null ? null : Jpki.JukiNet.MunicipalityCode.Parse(MunicipalityCode),
            ContinuedUse = ContinuedUse is null ? null : ContinuedUse != 0,
        };
    }
}

/// <summary>What to do with a change: the event and the record after it, or why it is refused.</summary>
/// <remarks><see cref="Conflict"/>: refused because of the record's state (409), not because the request is invalid (400).</remarks>
public sealed record ChangeDecision(ChangeEvent? Change, ResidentRecord? NewRecord, string? Refusal, bool Conflict)
{
    public static ChangeDecision Apply(ChangeEvent change, ResidentRecord newRecord) => new(change, newRecord, null, false);

    public static ChangeDecision Invalid(string reason) => new(null, null, reason, false);

    public static ChangeDecision Conflicting(string reason) => new(null, null, reason, true);
}

public abstract record ChangeOutcome
{
    public sealed record Applied(long Sequence) : ChangeOutcome;

    public sealed record UnknownResident : ChangeOutcome;

    public sealed record Refused(string Reason, bool Conflict) : ChangeOutcome;
}
