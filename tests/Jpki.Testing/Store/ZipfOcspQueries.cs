using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.X509;

namespace Jpki.Testing;

/// <summary>
/// OCSP queries over the rows of a <see cref="SyntheticFill"/>: a Zipf-distributed mix (s = 1.0:
/// the k-th most asked certificate is asked 1/k as often as the first) over all its rows, or
/// given rows, as GET paths; and a driver that sends them from a few loops and counts answers,
/// optionally checking each answer's status against the row (one in ten revoked).
/// </summary>
public sealed class ZipfOcspQueries
{
    // Euler–Mascheroni: H(n) ≈ ln n + γ, the normaliser of a Zipf (s = 1) distribution.
    private const double Gamma = 0.5772156649015329;

    // A prime above any row count, so that rank → row is a bijection that spreads the hot ranks
    // over every issuer and over the whole index range (row 0, 1, 2... are not the hottest).
    private const ulong Spread = 1_000_000_007;

    private readonly SyntheticFill fill;
    private readonly long rows;
    private readonly ConcurrentDictionary<string, X509Certificate> issuers = new();

    public ZipfOcspQueries(SyntheticFill fill, long rows)
    {
        ArgumentNullException.ThrowIfNull(fill);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        this.fill = fill;
        this.rows = rows;
    }

    /// <summary>
    /// A row drawn from the Zipf mix: rank k from the inverse of the approximate CDF
    /// (ln k + γ) / (ln n + γ), then mapped to a row by multiplication with a prime modulo n.
    /// </summary>
    public long NextRow(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var rank = (long)Math.Floor(Math.Exp((random.NextDouble() * (Math.Log(rows) + Gamma)) - Gamma));
        rank = Math.Clamp(rank, 1, rows);
        return (long)((ulong)(rank - 1) * Spread % (ulong)rows);
    }

    /// <summary>The row of Zipf rank <paramref name="rank"/> (1 = the most asked).</summary>
    public long RowOfRank(long rank) => (long)((ulong)(rank - 1) * Spread % (ulong)rows);

    /// <summary>The GET path (relative, <c>ocsp/...</c>) asking for row <paramref name="row"/>.</summary>
    public string PathOf(long row)
    {
        var key = fill.IssuerOf(row);
        var issuer = issuers.GetOrAdd(key.Id, _ => new X509CertificateParser().ReadCertificate(key.CertificateDer));
        var generator = new OcspReqGenerator();
#pragma warning disable CS0618 // The replacement is not in BouncyCastle 2.7.0.
        generator.AddRequest(new CertificateID(CertificateID.HashSha1, issuer, new Org.BouncyCastle.Math.BigInteger(SyntheticFill.Serial(row), 16)));
#pragma warning restore CS0618
        return "ocsp/" + Uri.EscapeDataString(Convert.ToBase64String(generator.Generate().GetEncoded()));
    }

    /// <summary><paramref name="count"/> queries of the Zipf mix (seeded: the same list every run).</summary>
    public IReadOnlyList<OcspQuery> Mix(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => NextRow(random)).Select(row => new OcspQuery(row, PathOf(row))).ToList();
    }

    /// <summary>
    /// Sends <paramref name="queries"/> from <paramref name="loops"/> loops until the window ends
    /// (null: no limit): each query once, or with <paramref name="repeat"/> round and round. Every
    /// answer must be 200; with <paramref name="check"/> its status is compared with the row's.
    /// </summary>
    public static async Task<OcspDrive> DriveAsync(Uri responder, string? bearerToken, IReadOnlyList<OcspQuery> queries, int loops, TimeSpan? window, bool repeat, bool check)
    {
        ArgumentNullException.ThrowIfNull(queries);
        using var http = new HttpClient { BaseAddress = responder, Timeout = TimeSpan.FromSeconds(60) };
        if (bearerToken is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearerToken);
        }

        var next = -1L;
        var answers = 0L;
        var wrong = 0L;
        var failures = new ConcurrentQueue<string>();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, loops).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                var i = Interlocked.Increment(ref next);
                if ((!repeat && i >= queries.Count) || clock.Elapsed >= window)
                {
                    return;
                }

                var query = queries[(int)(i % queries.Count)];
                using var response = await http.GetAsync(query.Path);
                var body = await response.Content.ReadAsByteArrayAsync();
                if (!response.IsSuccessStatusCode)
                {
                    failures.Enqueue($"row {query.Row}: HTTP {(int)response.StatusCode}");
                    continue;
                }

                Interlocked.Increment(ref answers);
                if (check && !StatusMatches(body, query.Row))
                {
                    Interlocked.Increment(ref wrong);
                }
            }
        })));
        var seconds = clock.Elapsed.TotalSeconds;
        if (!failures.IsEmpty)
        {
            throw new InvalidOperationException($"{failures.Count} OCSP requests failed, first: {failures.First()}");
        }

        return new OcspDrive(answers, wrong, seconds);
    }

    /// <summary>Whether the answer says what the row is: revoked for one in ten, good for the rest.</summary>
    public static bool StatusMatches(byte[] body, long row)
    {
        var response = new OcspResp(body);
        if (response.Status != OcspRespStatus.Successful)
        {
            return false;
        }

        var single = ((BasicOcspResp)response.GetResponseObject()).Responses.Single();
        var status = single.GetCertStatus();
        return single.GetCertID().SerialNumber.ToString(16).PadLeft(32, '0') == SyntheticFill.Serial(row)
            && (SyntheticFill.IsRevoked(row) ? status is RevokedStatus : status == CertificateStatus.Good);
    }
}

/// <summary>One query of a mix: the row asked about and its GET path.</summary>
public sealed record OcspQuery(long Row, string Path);

/// <summary>What a drive got: answers (HTTP 200), those whose status did not match the row, and how long it took.</summary>
public sealed record OcspDrive(long Answers, long Wrong, double Seconds)
{
    public double AnswersPerSecond => Answers / Math.Max(Seconds, 1e-6);
}
