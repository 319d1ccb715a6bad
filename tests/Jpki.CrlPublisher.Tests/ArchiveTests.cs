using System.Globalization;
using System.Security.Cryptography;
using Dapper;

namespace Jpki.CrlPublisher.Tests;

/// <summary>Every published CRL's bytes are kept by number, so an auditor can fetch any past CRL.</summary>
[Collection(CrlTestGroup.Name)]
public sealed class ArchiveTests(CrlFixture crl)
{
    private static readonly CrlSeries Full = new(CrlFixture.SigningKey, CrlScopeKind.Full);

    [Fact]
    public async Task EveryPublishedCrlIsArchivedByNumberWithTheDigestAndSizeItsArchiveRowRecords()
    {
        var leaf = await crl.IssueAsync("352012");
        var older = crl.Services.Publisher.Publish(Full, delta: false, scheduled: false)!;
        var olderBytes = File.ReadAllBytes(older.Path);
        crl.Revoke(leaf.Serial);
        var delta = crl.Services.Publisher.Publish(Full, delta: true, scheduled: false)!;
        var newer = crl.Services.Publisher.Publish(Full, delta: false, scheduled: false)!;
        Assert.NotEqual(olderBytes, File.ReadAllBytes(newer.Path));

        // The older complete CRL is still there, byte for byte, though full.crl has moved on.
        var olderArchive = crl.Services.Publisher.ArchivePathOf(Full, older.Number);
        Assert.Equal(Path.Combine(crl.Settings.Resolve(crl.Settings.Crl.ArchiveDirectory), CrlFixture.SigningKey, "full", older.Number.ToString(CultureInfo.InvariantCulture) + ".crl"), olderArchive);
        Assert.Equal(olderBytes, File.ReadAllBytes(olderArchive));
        Assert.Equal(File.ReadAllBytes(newer.Path), File.ReadAllBytes(crl.Services.Publisher.ArchivePathOf(Full, newer.Number)));
        Assert.Equal(File.ReadAllBytes(delta.Path), File.ReadAllBytes(crl.Services.Publisher.ArchivePathOf(Full, delta.Number)));

        // Every archive row of the store has its file: same SHA-256 and size, and openssl reads the number from it.
        using var db = crl.Services.Database.OpenConnection();
        var rows = db.Query<(string IssuerKeyId, string Scope, long Number, string Sha256, long SizeBytes)>("SELECT issuer_key_id, scope, number, sha256, size_bytes FROM crls").AsList();
        Assert.Contains(rows, r => r.Number == delta.Number && r.Scope == "full");
        foreach (var row in rows)
        {
            var path = crl.Services.Publisher.ArchivePathOf(CrlSeries.Parse(row.IssuerKeyId, row.Scope), row.Number);
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(row.Sha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
            Assert.Equal(row.SizeBytes, bytes.Length);
        }

        var number = ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", olderArchive, "-noout", "-crlnumber");
        Assert.True(number.ExitCode == 0, number.Output);
        Assert.Equal(older.Number, long.Parse(number.Output.Trim().Split('=')[1].Replace("0x", "", StringComparison.Ordinal), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        var verify = ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", olderArchive, "-CAfile", crl.RootPem, "-noout", "-verify");
        Assert.True(verify.ExitCode == 0 && verify.Output.Contains("verify OK", StringComparison.Ordinal), verify.Output);
        Assert.Empty(Directory.EnumerateFiles(crl.Settings.Resolve(crl.Settings.Crl.ArchiveDirectory), ".*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void ACrlThatFailsItsCheckIsNotArchived()
    {
        crl.Services.Publisher.Publish(Full, delta: false, scheduled: false);
        var archived = Directory.EnumerateFiles(crl.Settings.Resolve(crl.Settings.Crl.ArchiveDirectory), "*", SearchOption.AllDirectories).Count();
        crl.Damage = path => File.WriteAllBytes(path, [0x30, 0x00]);
        try
        {
            Assert.Throws<CrlCheckFailedException>(() => crl.Services.Publisher.Publish(Full, delta: false, scheduled: false));
        }
        finally
        {
            crl.Damage = null;
        }

        Assert.Equal(archived, Directory.EnumerateFiles(crl.Settings.Resolve(crl.Settings.Crl.ArchiveDirectory), "*", SearchOption.AllDirectories).Count());
    }
}
