using System.Text;
using Jpki.Ca.Access;
using Jpki.Ca.Accounts;
using Jpki.Ca.OfficerConsole.Views;

namespace Jpki.Ca.OfficerConsole;

/// <summary>
/// The console's account actions: create, change role or municipalities, disable or enable, and a
/// verifier's client certificates. Each form is read into the API's own request record and passed
/// to the method the JSON endpoint calls (<see cref="AccountAdministration"/>,
/// <see cref="VerifierAdministration"/>) with the cookie's officer, so the checks, the dual
/// control (the officer's own account refused, a second officer to approve) and the audit record
/// in the same transaction are the API's.
/// </summary>
public sealed class ConsoleAccountActions(AccountAdministration accounts, VerifierAdministration verifiers)
{
    // Not named BindAsync: minimal APIs take a type with a BindAsync method for a parameter binder.

    /// <summary>The largest certificate file the form takes (the API takes at most 64 KiB of PEM or base64).</summary>
    private const int MaxCertificateFileBytes = 48 * 1024;

    /// <summary>
    /// <c>POST /console/accounts</c> <c>id, role, municipality…</c>: an operator or verifier at once,
    /// its first credentials shown once to the officer (the API's 201 answer); an officer or auditor
    /// as a dual-control request, the first half of the activation code shown once.
    /// </summary>
    public Task<IResult> CreateAsync(HttpContext context) => ConsoleForms.PostAsync(context, async form =>
    {
        var id = form["id"].ToString().Trim();
        var answer = await accounts.CreateAsync(
            new AccountAdministration.CreateAccountRequest(id, form["role"].ToString(), ConsoleForms.Codes(form)), context.Caller(), context.RequestAborted);
        if (ConsolePages.ErrorOf(answer, context, "/console/accounts") is { } error)
        {
            return error;
        }

        var value = ConsolePages.ValueOf(answer);
        if (value?["approval"]?["id"]?.GetValue<long>() is { } approval)
        {
            return Answer(context, "作成を申請しました Creation requested", $"申請 {approval}: 別の職員の承認が必要です request {approval}: another officer must approve", [
                ("アカウント Account", id),
                ("役割 Role", value["approval"]?["details"]?["role"]?.GetValue<string>()),
                ("有効化コード前半 Activation code, first half", value["activationCodePart1"]?.GetValue<string>()),
            ], "この前半は一度だけ表示されます。保持者に直接渡してください。承認した職員が後半を受け取ります。保持者は /console/activation で有効にします。 Shown once: hand this half to the holder yourself; the approving officer receives the second half. The holder activates at /console/activation.");
        }

        return Answer(context, "アカウントを作成しました Account created", $"{id} を作成しました {id} created", [
            ("アカウント Account", value?["id"]?.GetValue<string>()),
            ("役割 Role", value?["role"]?.GetValue<string>()),
            ("市区町村 Municipalities", string.Join(", ", value?["municipalityCodes"]?.AsArray().Select(c => c?.GetValue<string>()) ?? [])),
            ("APIトークン API token", value?["token"]?.GetValue<string>()),
            ("パスワード Password", value?["password"]?.GetValue<string>()),
            ("トークン有効期限 Token expires", value?["tokenExpiresAt"]?.ToString()),
        ], "一度だけ表示されます。保持者に安全に渡し、保持者は最初にトークンを更新してください。 Shown once: hand these to the holder securely; the holder rotates the token first.");
    });

    /// <summary><c>POST /console/accounts/{id}/role</c> <c>role, municipality…</c>: <see cref="AccountAdministration.SetRoleAsync(string, AccountAdministration.RoleRequest, Jpki.Core.Accounts.Account, CancellationToken)"/> (dual control).</summary>
    public Task<IResult> SetRoleAsync(string id, HttpContext context) => ConsoleForms.PostAsync(context, async form =>
    {
        var answer = await accounts.SetRoleAsync(id, new AccountAdministration.RoleRequest(form["role"].ToString(), ConsoleForms.Codes(form)), context.Caller(), context.RequestAborted);
        return Requested(answer, context, id);
    });

    /// <summary><c>POST /console/accounts/{id}/municipalities</c> <c>municipality…</c>: <see cref="AccountAdministration.BindMunicipalitiesAsync(string, AccountAdministration.BindRequest, Jpki.Core.Accounts.Account, CancellationToken)"/> (dual control).</summary>
    public Task<IResult> BindMunicipalitiesAsync(string id, HttpContext context) => ConsoleForms.PostAsync(context, async form =>
    {
        var answer = await accounts.BindMunicipalitiesAsync(id, new AccountAdministration.BindRequest(ConsoleForms.Codes(form)), context.Caller(), context.RequestAborted);
        return Requested(answer, context, id);
    });

    /// <summary><c>POST /console/accounts/{id}/disable</c>: <see cref="AccountAdministration.DisableAsync"/> (an officer or auditor under dual control, others at once).</summary>
    public Task<IResult> DisableAsync(string id, HttpContext context) => ConsoleForms.PostAsync(context, async _ =>
        Requested(await accounts.DisableAsync(id, context), context, id, "disabled"));

    /// <summary><c>POST /console/accounts/{id}/enable</c>: <see cref="AccountAdministration.EnableAsync"/>.</summary>
    public Task<IResult> EnableAsync(string id, HttpContext context) => ConsoleForms.PostAsync(context, async _ =>
        Requested(await accounts.EnableAsync(id, context), context, id, "enabled"));

    /// <summary>
    /// <c>POST /console/accounts/{id}/client-certificates</c> (multipart): the PEM pasted in
    /// <c>certificatePem</c> or a file (PEM or DER) in <c>certificateFile</c>, a DER file passed on
    /// base64-encoded, which the API's parser takes; then
    /// <see cref="AccountAdministration.RegisterClientCertificateAsync(string, AccountAdministration.ClientCertificateRequest, Jpki.Core.Accounts.Account, CancellationToken)"/> (dual control).
    /// </summary>
    public Task<IResult> RegisterClientCertificateAsync(string id, HttpContext context) => ConsoleForms.PostAsync(context, async form =>
    {
        var text = form["certificatePem"].ToString();
        if (form.Files.GetFile("certificateFile") is { Length: > 0 } file)
        {
            if (file.Length > MaxCertificateFileBytes)
            {
                return ConsolePages.ErrorOf(AccountChanges.Invalid($"the certificate file must be at most {MaxCertificateFileBytes} bytes"), context, AccountPage(id))!;
            }

            using var buffer = new MemoryStream();
            await file.CopyToAsync(buffer, context.RequestAborted);
            var bytes = buffer.ToArray();
            var asText = Encoding.UTF8.GetString(bytes);
            text = asText.Contains("-----BEGIN", StringComparison.Ordinal) ? asText : Convert.ToBase64String(bytes);
        }

        var answer = await accounts.RegisterClientCertificateAsync(id, new AccountAdministration.ClientCertificateRequest(text), context.Caller(), context.RequestAborted);
        return Requested(answer, context, id);
    });

    /// <summary><c>POST /console/accounts/{id}/client-certificates/{sha256}/remove</c>: <see cref="VerifierAdministration.RemoveClientCertificateAsync"/> (at once: taking access away needs one officer).</summary>
    public Task<IResult> RemoveClientCertificateAsync(string id, string sha256, HttpContext context) => ConsoleForms.PostAsync(context, async _ =>
    {
        var answer = await verifiers.RemoveClientCertificateAsync(id, sha256, context);
        return ConsolePages.ErrorOf(answer, context, AccountPage(id)) ?? ConsolePages.SeeOther(AccountPage(id) + "?removed=" + sha256.ToLowerInvariant());
    });

    /// <summary>
    /// <c>POST /console/accounts/me/token</c>: <see cref="AccountAdministration.RotateTokenAsync"/>, the
    /// method of <c>POST /api/v1/accounts/me/token</c>, for the cookie's officer only (the API's
    /// caller is the session's account): the old API token stops at once, the new one is shown once.
    /// </summary>
    public Task<IResult> RotateOwnTokenAsync(HttpContext context) => ConsoleForms.PostAsync(context, async _ =>
    {
        var officer = context.Caller().Id;
        var answer = await accounts.RotateTokenAsync(context);
        if (ConsolePages.ErrorOf(answer, context, AccountPage(officer)) is { } error)
        {
            return error;
        }

        var value = ConsolePages.ValueOf(answer);
        return Answer(context, "APIトークンを更新しました API token rotated", $"{officer} の新しいAPIトークン {officer}'s new API token", [
            ("アカウント Account", officer),
            ("APIトークン API token", value?["token"]?.GetValue<string>()),
            ("トークン有効期限 Token expires", value?["expiresAt"]?.ToString()),
        ], "一度だけ表示されます。古いトークンはもう使えません。コンソールのセッションは続きます。 Shown once: the old token no longer works; this console session goes on.");
    });

    public static string AccountPage(string id) => "/console/accounts/" + Uri.EscapeDataString(id);

    /// <summary>An account change's answer: the API's problem as a page, or back to the account's page naming the request (dual control) or what was done.</summary>
    private static IResult Requested(IResult answer, HttpContext context, string id, string done = "changed")
    {
        if (ConsolePages.ErrorOf(answer, context, AccountPage(id)) is { } error)
        {
            return error;
        }

        return ConsolePages.RequestedApproval(answer) is { } approval
            ? ConsolePages.SeeOther($"{AccountPage(id)}?requested={approval}")
            : ConsolePages.SeeOther($"{AccountPage(id)}?{done}=1");
    }

    private static IResult Answer(HttpContext context, string title, string done, (string, string?)[] rows, string note) =>
        ConsolePages.View<ConsoleResultView>(new
        {
            Officer = context.Caller().Id,
            Csrf = ConsoleForms.TokenOf(context),
            Title = title,
            Done = done,
            Rows = rows,
            Note = note,
            BackTo = "/console/accounts",
        });
}
