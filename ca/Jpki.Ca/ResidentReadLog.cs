using Dapper;
using Jpki.Core.Store;

namespace Jpki.Ca;

/// <summary>
/// The append-only log of reads about residents (not the hashed audit chain: too many): their
/// four facts (<c>facts</c>) or the list of their certificates (<c>certificates</c>).
/// </summary>
public static class ResidentReadLog
{
    public const string Facts = "facts";
    public const string Certificates = "certificates";

    public static void Append(WriteTransaction tx, string account, string purpose, byte[] residentKey, string hmacKeyId, string disclosed = Facts)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute(
            """
            INSERT INTO resident_reads (account, purpose, resident_key, hmac_key_id, time_us, disclosed)
            VALUES (@account, @purpose, @residentKey, @hmacKeyId, @timeUs, @disclosed)
            """,
            new { account, purpose, residentKey, hmacKeyId, timeUs = Instant.NowMicros(tx.Time), disclosed });
    }
}
