using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Core.Accounts;

/// <summary>What an account may do (DESIGN.md §9).</summary>
public enum AccountRole
{
    Operator,
    Officer,
    Auditor,
    Verifier,
}

/// <summary>An API account as the CA sees it after authentication.</summary>
public sealed record Account(string Id, AccountRole Role, IReadOnlyList<string> MunicipalityCodes, bool Disabled)
{
    public bool IsBoundTo(string municipalityCode) => MunicipalityCodes.Contains(municipalityCode, StringComparer.Ordinal);
}

/// <summary>
/// The SQL of the account aggregate. Bearer tokens are never stored: only their SHA-256, which
/// is also how a presented token is found.
/// </summary>
public static class AccountStore
{
    public static string TokenHash(string token) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    public static Account? FindByToken(DbConnection db, string token) =>
        db.QuerySingleOrDefault<AccountRow>(
            $"SELECT {Columns} FROM accounts WHERE token_sha256 = @hash",
            new { hash = TokenHash(token) })?.ToAccount();

    public static Account? Find(DbConnection db, string id, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<AccountRow>($"SELECT {Columns} FROM accounts WHERE id = @id", new { id }, tx)?.ToAccount();

    public static long Count(WriteTransaction tx)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.QuerySingle<long>("SELECT COUNT(*) FROM accounts");
    }

    public static void Insert(WriteTransaction tx, Account account, string tokenSha256)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(account);
        tx.Execute(
            """
            INSERT INTO accounts (id, role, municipality_codes, token_sha256, disabled, created_us)
            VALUES (@Id, @Role, @Codes, @TokenSha256, @Disabled, @CreatedUs)
            """,
            new
            {
                account.Id,
                Role = RoleText(account.Role),
                Codes = JsonSerializer.Serialize(account.MunicipalityCodes),
                TokenSha256 = tokenSha256,
                Disabled = account.Disabled ? 1 : 0,
                CreatedUs = Instant.NowMicros(tx.Time),
            });
    }

    public static string RoleText(AccountRole role) => role switch
    {
        AccountRole.Operator => "operator",
        AccountRole.Officer => "officer",
        AccountRole.Auditor => "auditor",
        AccountRole.Verifier => "verifier",
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    private const string Columns = "id AS Id, role AS Role, municipality_codes AS MunicipalityCodes, disabled AS Disabled";

    private sealed class AccountRow
    {
        public string Id { get; set; } = "";

        public string Role { get; set; } = "";

        public string MunicipalityCodes { get; set; } = "[]";

        public long Disabled { get; set; }

        public Account ToAccount() => new(
            Id,
            Role switch
            {
                "operator" => AccountRole.Operator,
                "officer" => AccountRole.Officer,
                "auditor" => AccountRole.Auditor,
                "verifier" => AccountRole.Verifier,
                _ => throw new FormatException($"account '{Id}' has unknown role '{Role}'"),
            },
            JsonSerializer.Deserialize<string[]>(MunicipalityCodes) ?? [],
            Disabled != 0);
    }
}
