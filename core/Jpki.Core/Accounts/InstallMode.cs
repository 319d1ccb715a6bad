using System.Data.Common;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Core.Accounts;

/// <summary>
/// How an install was set up. <see cref="Demo"/> (<c>./jpki up</c>): the CA's first start makes the
/// built-in accounts and writes their credentials under <c>secrets/</c> for the walkthrough, and
/// says so in <c>/healthz</c> and the audit log. <see cref="Production"/> (<c>./jpki hsm init
/// --production</c>): the ceremony shows the first officers' and the auditor's credentials once on
/// the terminal and writes none to disk; the CA makes no built-in accounts.
/// </summary>
public static class InstallMode
{
    public const string Demo = "demo";
    public const string Production = "production";
    private const string Name = "install.mode";

    /// <summary>The mode recorded in the store, or null before the first start or ceremony recorded one.</summary>
    public static string? Read(DbConnection db, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<string>("SELECT value FROM install_settings WHERE name = @Name", new { Name }, tx);

    /// <summary>Records the mode once; false when one was recorded already (it is never changed).</summary>
    public static bool Record(WriteTransaction tx, string mode)
    {
        ArgumentNullException.ThrowIfNull(tx);
        if (mode is not (Demo or Production))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "demo or production");
        }

        if (Read(tx.Connection, tx.Transaction) is not null)
        {
            return false;
        }

        tx.Execute("INSERT INTO install_settings (name, value) VALUES (@Name, @mode)", new { Name, mode });
        return true;
    }
}
