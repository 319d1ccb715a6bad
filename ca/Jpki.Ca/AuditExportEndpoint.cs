using System.Formats.Tar;
using System.Globalization;
using System.Text.Json.Nodes;
using Jpki.Core;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Issuers;

namespace Jpki.Ca;

/// <summary>
/// <c>GET /api/v1/audit/export?from=YYYY-MM-DD&amp;to=YYYY-MM-DD</c> (auditor): the bundle of
/// <c>./jpki audit export</c> — records of those JST days to the covering checkpoint, the
/// checkpoints, the checkpoint key certificate, verify.sh and README.txt — as a tar archive with
/// one top directory. The head is checkpointed first if needed, and the export is audited.
/// </summary>
public sealed class AuditExportEndpoint(CaServices services)
{
    public const string NothingToExport = ProblemTypes.Prefix + "audit-nothing-to-export";

    public IResult Export(HttpContext context, Account auditor)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(auditor);
        var fromText = context.Request.Query["from"].ToString();
        var toText = context.Request.Query["to"].ToString();
        if (!TryDate(fromText, out var fromDate) || !TryDate(toText, out var toDate) || toDate < fromDate)
        {
            return ProblemTypes.Problem(422, ProblemTypes.InvalidRequest, "invalid request", "from and to must be dates YYYY-MM-DD (JST), from not after to");
        }

        List<byte[]> certificates;
        using (var db = services.Database.OpenConnection())
        {
            certificates = IssuerStore.ListInstallKeys(db, "audit-checkpoint").Where(k => k.CertificateDer is not null).Select(k => k.CertificateDer!).ToList();
        }

        var name = $"jpki-audit-{fromText}-{toText}";
        var scratch = Directory.CreateTempSubdirectory("jpki-audit-export-").FullName;
        try
        {
            services.Audit.Checkpoint(services.Database);
            AuditExportResult result;
            try
            {
                result = AuditExporter.Export(services.Database, Jst.StartOfDay(fromDate), Jst.StartOfDay(toDate.AddDays(1)), Path.Combine(scratch, name), certificates);
            }
            catch (InvalidOperationException e)
            {
                return ProblemTypes.Problem(404, NothingToExport, "nothing to export", e.Message);
            }

            using (var tx = services.Database.BeginWrite())
            {
                services.Audit.Append(tx, result.Record(auditor.Id, name, fromText, toText));
                tx.Commit();
            }

            using var archive = new MemoryStream();
            TarFile.CreateFromDirectory(Path.Combine(scratch, name), archive, includeBaseDirectory: true);
            return Results.File(archive.ToArray(), "application/x-tar", name + ".tar");
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    private static bool TryDate(string text, out DateOnly date) =>
        DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out date);
}
