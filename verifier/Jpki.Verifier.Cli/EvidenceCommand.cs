using System.Collections.Immutable;
using Jpki.Verifier;

/// <summary><c>jpki verify --with-evidence FILE</c>: a verification checked again from its evidence alone.</summary>
internal static class EvidenceCommand
{
    public static async Task<int> RecheckAsync(string file, string? tsaCertificate, string? rootsDirectory, bool json)
    {
        var home = Environment.GetEnvironmentVariable("JPKI_HOME") is { Length: > 0 } h ? h : Path.Combine(Environment.CurrentDirectory, "var");
        var tsaPath = tsaCertificate ?? Path.Combine(home, "tsa", "tsa.pem");
        var rootsPath = rootsDirectory ?? Path.Combine(home, "certs");
        byte[] evidence;
        ImmutableArray<Org.BouncyCastle.X509.X509Certificate> roots;
        ImmutableArray<Org.BouncyCastle.X509.X509Certificate> authorities;
        try
        {
            evidence = await File.ReadAllBytesAsync(file);
            roots = TrustAnchors.FromDirectory(rootsPath);
            authorities = [.. TrustAnchors.ReadCertificates(await File.ReadAllBytesAsync(tsaPath))];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine("verify: " + e.Message);
            return ExitCodes.Input;
        }

        if (roots.Length == 0 || authorities.Length == 0)
        {
            Console.Error.WriteLine(roots.Length == 0 ? $"verify: no self-signed CA certificate in '{rootsPath}'" : $"verify: no certificate in '{tsaPath}'");
            return ExitCodes.Input;
        }

        var checkedAgain = await LongTermEvidence.VerifyAsync(evidence, new EvidenceOptions { Roots = roots, TimeStampAuthorities = authorities });
        return Report(checkedAgain, json);
    }

    /// <summary>The verification from the evidence printed (as JSON or text), and its exit code.</summary>
    private static int Report(EvidenceVerification checkedAgain, bool json)
    {
        var result = checkedAgain.Verification;
        var record = checkedAgain.Record;
        if (json)
        {
            VerifyCommand.PrintJson(result, null, evidence: new
            {
                timeStamp = checkedAgain.TimeStampTime,
                timeStampAuthority = checkedAgain.TimeStampAuthority,
                kind = record?.Kind,
                verifiedAt = record?.VerifiedAt,
                recordedValid = record?.Valid,
                recordedFailure = record?.Failure,
            });
        }
        else
        {
            if (checkedAgain.TimeStampTime is { } at)
            {
                Console.Out.WriteLine($"evidence         {record?.Kind} signature time-stamped {at.ToOffset(TimeSpan.FromHours(9)).ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture)} JST by '{checkedAgain.TimeStampAuthority}' (every check below is at that time)");
            }

            VerifyCommand.Print(result, null);
        }

        var failure = result.FirstFailure;
        if (failure is null && result.IsValid)
        {
            return 0;
        }

        var reason = failure?.Reason ?? FailureReason.MalformedSignature;
        Console.Error.WriteLine($"verify: {VerifyCommand.Describe(reason)}: {failure?.Detail}");
        return ExitCodes.For(reason);
    }
}
