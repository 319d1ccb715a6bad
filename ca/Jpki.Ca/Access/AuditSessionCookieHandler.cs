using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Jpki.Ca.Access;

/// <summary>
/// The auditor pages' session cookie (<c>jpki-audit</c>, HttpOnly, SameSite=Strict, path /audit):
/// it holds a session token of the same sessions table as <c>POST /api/v1/sessions</c>. A page
/// asked without a live session redirects to the login page; another role gets a 403 page.
/// </summary>
public sealed class AuditSessionCookieHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, CaServices services)
    : PageSessionCookieHandler(options, logger, encoder, services)
{
    public const string SchemeName = "AuditSession";
    public const string Cookie = "jpki-audit";

    protected override string CookieName => Cookie;

    protected override string LoginPath => "/audit";

    protected override string ForbiddenReason => "the audit pages are for auditors";

    protected override IResult ForbiddenPage() => Auditing.AuditorPages.Forbidden();
}
