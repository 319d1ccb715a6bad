using System.Net;

namespace Jpki.Ca.Access;

/// <summary>
/// Wrong passwords slow down the next attempt, they never lock: growing delays per account (in the
/// store, shared by every CA instance) and per client address (in this process). A lock would let
/// anyone who knows an officer's account name keep that officer out, and so block approvals; a
/// delay capped at <see cref="MaxAccountDelay"/> only slows a guesser down. An attempt that comes
/// before its time is answered 429 with Retry-After and is not counted.
/// </summary>
public sealed class LoginThrottle(TimeProvider time)
{
    public static readonly TimeSpan MaxAccountDelay = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan MaxAddressDelay = TimeSpan.FromMinutes(15);
    private const int FreeAccountFailures = 3;
    private const int FreeAddressFailures = 5;
    private const int MaxAddresses = 10_000;
    private readonly Dictionary<IPAddress, (int Failures, DateTimeOffset NotBefore)> addresses = [];
    private readonly Lock gate = new();

    /// <summary>How long the account waits after its <paramref name="failures"/>th wrong password in a row.</summary>
    public static TimeSpan AccountDelay(long failures) => Delay(failures, FreeAccountFailures, MaxAccountDelay);

    /// <summary>How long an address waits after its <paramref name="failures"/>th wrong password in a row (any account).</summary>
    public static TimeSpan AddressDelay(long failures) => Delay(failures, FreeAddressFailures, MaxAddressDelay);

    /// <summary>How long <paramref name="address"/> must still wait; zero when it may try now.</summary>
    public TimeSpan AddressWait(IPAddress? address)
    {
        if (address is null)
        {
            return TimeSpan.Zero;
        }

        lock (gate)
        {
            return addresses.TryGetValue(address, out var state) && state.NotBefore > time.GetUtcNow() ? state.NotBefore - time.GetUtcNow() : TimeSpan.Zero;
        }
    }

    public void AddressFailed(IPAddress? address)
    {
        if (address is null)
        {
            return;
        }

        lock (gate)
        {
            if (addresses.Count >= MaxAddresses && !addresses.ContainsKey(address))
            {
                // Bounded memory: forget the address whose delay ends first.
                addresses.Remove(addresses.MinBy(a => a.Value.NotBefore).Key);
            }

            var failures = (addresses.TryGetValue(address, out var state) ? state.Failures : 0) + 1;
            addresses[address] = (failures, time.GetUtcNow() + AddressDelay(failures));
        }
    }

    public void AddressSucceeded(IPAddress? address)
    {
        if (address is not null)
        {
            lock (gate)
            {
                addresses.Remove(address);
            }
        }
    }

    private static TimeSpan Delay(long failures, int free, TimeSpan max) =>
        failures < free ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Min(Math.Pow(2, Math.Min(failures - free, 30)), max.TotalSeconds));
}
