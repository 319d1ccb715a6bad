using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Jpki.Ca.Access;

/// <summary>
/// The officer console's session cookie (<c>jpki-console</c>, HttpOnly, SameSite=Strict, path
/// /console): a session token of the same sessions table as <c>POST /api/v1/sessions</c>, made by
/// the console's login for officers only. Its own cookie and path, so that an auditor's page
/// session never opens the console nor an officer's the auditor pages.
/// </summary>
public sealed class ConsoleSessionCookieHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, CaServices services)
    : PageSessionCookieHandler(options, logger, encoder, services)
{
    public const string SchemeName = "ConsoleSession";
    public const string Cookie = "jpki-console";

    protected override string CookieName => Cookie;

    protected override string LoginPath => "/console";

    protected override string ForbiddenReason => "the officer console is for officers";

    protected override IResult ForbiddenPage() => OfficerConsole.ConsolePages.Forbidden();
}
