using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Jpki.Hsm;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace Jpki.Benchmarks;

/// <summary>
/// RSA-2048 PKCS#1 v1.5 signatures per second through <see cref="SessionPool"/> +
/// <see cref="Pkcs11Signer"/>, against raw C_Sign on bare Pkcs11Interop sessions (one per
/// thread) on the same token in the same run, with `openssl speed rsa2048` as context.
/// Rounds alternate raw and pool so that machine noise hits both alike; the median round counts.
/// </summary>
public sealed class SignerBenchmark(string moduleDirectory, TimeSpan window, int rounds)
{
    private static readonly byte[] DigestInfoPrefix =
        [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

    public IReadOnlyList<Figure> Run(string modulePath)
    {
        var tokens = Path.Combine(moduleDirectory, "tokens");
        Directory.CreateDirectory(tokens);
        var conf = Path.Combine(moduleDirectory, "softhsm2.conf");
        File.WriteAllText(conf, $"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n");
        using var module = Pkcs11Module.Load(modulePath, new Dictionary<string, string> { ["SOFTHSM2_CONF"] = conf });

        var label = "bench-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        var pin = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var pinFile = Path.Combine(moduleDirectory, label + ".pin");
        File.WriteAllText(pinFile, pin);
        File.SetUnixFileMode(pinFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        HsmToken.Initialise(module, label, RandomNumberGenerator.GetBytes(8), Encoding.UTF8.GetBytes(pin));
        using var token = HsmToken.Open(module, label, PinSource.FromFile(pinFile));
        token.GenerateKeyPair(KeyKind.Rsa, "bench-rsa");

        // The baseline: Pkcs11Interop directly, one logged-in session per thread, no pool.
        var factories = new Pkcs11InteropFactories();
        using var raw = factories.Pkcs11LibraryFactory.LoadPkcs11Library(factories, modulePath, AppType.MultiThreaded);
        var slot = raw.GetSlotList(SlotsType.WithTokenPresent).First(s => s.GetTokenInfo().Label.Trim() == label);
        var rawSessions = Enumerable.Range(0, 2).Select(_ => slot.OpenSession(SessionType.ReadOnly)).ToList();
        try
        {
            try
            {
                rawSessions[0].Login(CKU.CKU_USER, pin);
            }
            catch (Pkcs11Exception e) when (e.RV == CKR.CKR_USER_ALREADY_LOGGED_IN)
            {
            }

            var f = factories.ObjectAttributeFactory;
            var key = rawSessions[0].FindAllObjects([f.Create(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY), f.Create(CKA.CKA_LABEL, "bench-rsa")])[0];
            using var mechanism = factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS);

            using var pool1 = token.CreatePool("bench-1", 1);
            using var pool2 = token.CreatePool("bench-2", 2);
            using var signer1 = Pkcs11Signer.Open(pool1, "bench-rsa");
            using var signer2 = Pkcs11Signer.Open(pool2, "bench-rsa");

            var raw1 = new List<double>();
            var raw2 = new List<double>();
            var pooled1 = new List<double>();
            var pooled2 = new List<double>();
            for (var round = 0; round < rounds; round++)
            {
                raw1.Add(Rate(1, t => rawSessions[t].Sign(mechanism, key, NextDigestInfo(t))));
                pooled1.Add(Rate(1, t => signer1.SignDigest(SignatureAlgorithm.RsaPkcs1Sha256, NextDigest(t))));
                raw2.Add(Rate(2, t => rawSessions[t].Sign(mechanism, key, NextDigestInfo(t))));
                pooled2.Add(Rate(2, t => signer2.SignDigest(SignatureAlgorithm.RsaPkcs1Sha256, NextDigest(t))));
                Console.Error.WriteLine($"round {round + 1}/{rounds}: raw1 {raw1[^1]:0} pool1 {pooled1[^1]:0} raw2 {raw2[^1]:0} pool2 {pooled2[^1]:0} sig/s");
            }

            var openssl = OpensslSpeedRsa2048();
            return
            [
                Paired("signer.rsa2048.pool.1-thread", pooled1, "raw C_Sign, 1 session", raw1),
                Paired("signer.rsa2048.pool.2-threads", pooled2, "raw C_Sign, 2 sessions", raw2),
                Figure.Against("signer.rsa2048.raw.2-sessions", Median(raw2), "signatures/s", "openssl speed rsa2048 (1 core, context)", openssl),
            ];
        }
        finally
        {
            foreach (var s in rawSessions)
            {
                s.Dispose();
            }
        }
    }

    private static byte[] NextDigest(int thread) => SHA256.HashData(BitConverter.GetBytes(Environment.TickCount64 ^ thread));

    private static byte[] NextDigestInfo(int thread) => [.. DigestInfoPrefix, .. NextDigest(thread)];

    private double Rate(int threads, Action<int> op)
    {
        // Warm up: first calls pay for session setup and JIT.
        for (var t = 0; t < threads; t++)
        {
            for (var i = 0; i < 20; i++)
            {
                op(t);
            }
        }

        return RateMeter.Rate(threads, window, t =>
        {
            op(t);
            return true;
        });
    }

    /// <summary>
    /// Each round measures both sides back to back, so the ratio is taken per round and the
    /// median round ratio reported: noise from other processes cancels within a round.
    /// </summary>
    private static Figure Paired(string name, List<double> values, string baseline, List<double> baselines) =>
        Figure.Against(name, Median(values), "signatures/s", baseline, Median(baselines)) with
        {
            Ratio = Math.Round(Median(values.Zip(baselines, (v, b) => v / b).ToList()), 3),
        };

    private static double Median(List<double> values) => RateMeter.Median(values);

    /// <summary>`openssl speed -seconds 3 rsa2048`: the "sign/s" column of its rsa 2048 line.</summary>
    private static double OpensslSpeedRsa2048()
    {
        var psi = new ProcessStartInfo("openssl", ["speed", "-seconds", "3", "rsa2048"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("openssl did not start");
        var output = process.StandardOutput.ReadToEnd();
        process.StandardError.ReadToEnd();
        process.WaitForExit();
        foreach (var line in output.Split('\n'))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 6 && parts[0] == "rsa" && parts[1] == "2048")
            {
                // rsa 2048 bits 0.000331s 0.000010s 3021.0 101112.5
                return double.Parse(parts[^2], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }
}
