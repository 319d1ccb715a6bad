using System.Text;
using System.Text.Json.Nodes;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Jpki.Hsm;

namespace Jpki.HsmTool;

/// <summary>
/// The ceremonies that make officers outside the CA API: the first officers and the auditor of a
/// production install (<c>hsm init --production</c>), and the break-glass recovery when fewer
/// than two officers are left (<c>hsm break-glass --officer ID</c>, with the HSM security-officer
/// PIN). Credentials are shown once on the terminal, one holder at a time, and stored only as
/// hashes; nothing is written to <c>secrets/</c>.
/// </summary>
internal sealed class AccountCeremony(ToolContext context, TextReader input)
{
    private static string Actor => $"ceremony:{Environment.UserName}";

    /// <summary>Records the install as production and hands each first account's credentials to its holder.</summary>
    public int InitProduction(IReadOnlyList<string> officers, string auditor)
    {
        ArgumentNullException.ThrowIfNull(officers);
        if (officers.Count < ApprovalRules.MinimumOfficers || officers.Concat([auditor]).Distinct(StringComparer.Ordinal).Count() != officers.Count + 1)
        {
            throw new ArgumentException($"a production install starts with at least {ApprovalRules.MinimumOfficers} officers and an auditor, all different");
        }

        var handOver = new List<(Account Account, NewCredentials Credentials)>();
        AuditedStep.InTransaction(context, (tx, audit) =>
        {
            var mode = InstallMode.Read(tx.Connection, tx.Transaction);
            if (mode == InstallMode.Demo || (mode is null && AccountStore.Count(tx) > 0))
            {
                throw new InvalidOperationException("this install was set up as a demonstration (its accounts' credentials are files under secrets/); a production install starts from an empty JPKI_HOME");
            }

            if (!InstallMode.Record(tx, InstallMode.Production))
            {
                return; // accounts handed over by an earlier run: never again
            }

            audit.Append(tx, new AuditRecord(Actor, "install.mode", InstallMode.Production, new JsonObject { ["officers"] = officers.Count }));
            foreach (var account in officers.Select(id => new Account(id, AccountRole.Officer, [], false)).Append(new Account(auditor, AccountRole.Auditor, [], false)))
            {
                var credentials = NewCredentials.Make(tx.Time.GetUtcNow(), context.Settings.Accounts.TokenLifetimeDays);
                AccountStore.Insert(tx, account, credentials.Stored);
                AccountStore.AddGrant(tx, account.Id, "account.create", Actor, null);
                audit.Append(tx, new AuditRecord(Actor, "account.created", account.Id, new JsonObject
                {
                    ["role"] = AccountStore.RoleText(account.Role),
                    ["production"] = true,
                    ["handedOverOnTerminal"] = true,
                }));
                handOver.Add((account, credentials));
            }
        });
        if (handOver.Count == 0)
        {
            context.Output.WriteLine("accounts: the first officers and the auditor were handed their credentials by an earlier run; nothing shown");
            return 0;
        }

        foreach (var (account, credentials) in handOver)
        {
            HandOver(account, credentials);
        }

        context.Output.WriteLine($"production install: {handOver.Count} accounts handed over; no credential was written to disk");
        return 0;
    }

    /// <summary>
    /// Break-glass: with fewer than two enabled officers nothing can be approved, so the holder of
    /// the HSM security-officer PIN makes (or re-enables, with new credentials) one officer.
    /// Refused while two officers are enabled: then dual control is the way.
    /// </summary>
    public int BreakGlass(string officer)
    {
        context.Output.Write("HSM security-officer PIN (one line on standard input): ");
        var pin = input.ReadLine() ?? throw new ArgumentException("break-glass reads the security-officer PIN from standard input; none was given");
        // Proven before this process logs in as the user: one login type per application and token.
        HsmToken.VerifySecurityOfficerPin(context.Module, context.Settings.TokenLabel, Encoding.UTF8.GetBytes(pin.Trim()));
        context.Output.WriteLine();
        NewCredentials? made = null;
        AuditedStep.InTransaction(context, (tx, audit) =>
        {
            var enabled = AccountStore.CountActiveOfficers(tx);
            if (enabled >= ApprovalRules.MinimumOfficers)
            {
                throw new InvalidOperationException($"{enabled} officers are enabled: create or enable officers with dual control (POST /api/v1/accounts), not break-glass");
            }

            var credentials = NewCredentials.Make(tx.Time.GetUtcNow(), context.Settings.Accounts.TokenLifetimeDays);
            var existing = AccountStore.Find(tx.Connection, officer, tx.Transaction);
            if (existing is { Role: not AccountRole.Officer })
            {
                throw new InvalidOperationException($"account '{officer}' exists with role {AccountStore.RoleText(existing.Role)}; break-glass makes or restores officers only");
            }

            if (existing is null)
            {
                AccountStore.Insert(tx, new Account(officer, AccountRole.Officer, [], false), credentials.Stored);
            }
            else
            {
                AccountStore.ResetCredentials(tx, officer, credentials.Stored);
            }

            AccountStore.AddGrant(tx, officer, "account.break-glass", Actor, null);
            audit.Append(tx, new AuditRecord(Actor, "account.break-glass", officer, new JsonObject
            {
                ["enabledOfficersBefore"] = enabled,
                ["existed"] = existing is not null,
                ["securityOfficerPinVerified"] = true,
            }));
            made = credentials;
        });
        HandOver(new Account(officer, AccountRole.Officer, [], false), made!);
        context.Output.WriteLine("break-glass: audited as account.break-glass; restore dual control at once (a second officer through the CA API)");
        return 0;
    }

    /// <summary>One holder's credentials on the terminal, until the holder confirms; then the screen is cleared.</summary>
    private void HandOver(Account account, NewCredentials credentials)
    {
        var output = context.Output;
        output.WriteLine($"=== for {account.Id} ({AccountStore.RoleText(account.Role)}) only; other people look away ===");
        output.WriteLine($"  account:  {account.Id}");
        output.WriteLine($"  password: {credentials.Password}");
        output.WriteLine($"  API token (expires {credentials.TokenExpiresAt:yyyy-MM-dd}): {credentials.Token}");
        output.WriteLine("  (shown once; the CA keeps only hashes. Press Enter once the holder has taken them.)");
        output.Flush();
        input.ReadLine();
        // ANSI: clear the screen and the scroll-back, so the next holder does not see them.
        output.Write("\u001b[2J\u001b[3J\u001b[H");
        output.WriteLine($"=== {account.Id}: handed over ===");
    }
}
