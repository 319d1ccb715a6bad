using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Kiosk;

/// <summary>
/// The ASP.NET Core data-protection key ring that protects the kiosk's antiforgery tokens and
/// session cookie. The kiosk keeps it in the install's home (<see cref="KioskOptions.KeyRingDirectory"/>,
/// 0700), never in an ephemeral in-memory ring: forms served under a key nobody kept stop
/// validating after a restart, silently. It is checked before the kiosk listens: the first start
/// creates its key there, and a ring that cannot be written (a full disk, a read-only home) stops
/// the kiosk with one line saying so (decision 0822).
/// </summary>
public static class KioskKeyRing
{
    private const string CheckPurpose = "jpki-kiosk.key-ring-check";

    /// <summary>Persists the ring in <paramref name="directory"/> (created 0700), under the kiosk's own application name.</summary>
    public static void Add(IServiceCollection services, string directory)
    {
        Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        services.AddDataProtection()
            .SetApplicationName("jpki-kiosk")
            .PersistKeysToFileSystem(new DirectoryInfo(directory));
    }

    /// <summary>
    /// Protects and reads back a few bytes, which makes the ring load its key or create and store
    /// its first one now rather than under the first form.
    /// </summary>
    /// <exception cref="InvalidOperationException">the ring cannot be read or its first key cannot be stored; the message says where and why.</exception>
    public static void Check(IServiceProvider services, string? directory)
    {
        ArgumentNullException.ThrowIfNull(services);
        try
        {
            var protector = services.GetRequiredService<IDataProtectionProvider>().CreateProtector(CheckPurpose);
            protector.Unprotect(protector.Protect([1]));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var cause = e;
            while (cause.InnerException is not null)
            {
                cause = cause.InnerException;
            }

            throw new InvalidOperationException(
                $"cannot use its data-protection key ring in {directory ?? "the service user's home"} (it protects the forms and the session cookie; the kiosk does not start without it): {cause.Message}", e);
        }
    }
}
