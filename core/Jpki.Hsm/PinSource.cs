using System.Text;

namespace Jpki.Hsm;

/// <summary>
/// Where a PIN comes from: a file (first line, mode 0600 expected) or an environment variable.
/// Never argv, never a log line; <see cref="ToString"/> says where from, never what.
/// </summary>
public sealed class PinSource
{
    private readonly string? _file;
    private readonly string? _variable;
    private readonly byte[]? _value;

    private PinSource(string? file, string? variable, byte[]? value = null)
    {
        _file = file;
        _variable = variable;
        _value = value;
    }

    public static PinSource FromFile(string path) => new(path, null);

    public static PinSource FromEnvironment(string variable) => new(null, variable);

    /// <summary>
    /// A PIN typed by a person (a card holder at the window or a terminal): kept as a copy for
    /// as long as the token is open, because a token may need to log in again.
    /// </summary>
    public static PinSource FromTyped(ReadOnlySpan<byte> pin) => new(null, null, pin.ToArray());

    /// <summary>The environment variable if it is set, else the file.</summary>
    public static PinSource FromEnvironmentOrFile(string variable, string path) =>
        string.IsNullOrEmpty(Environment.GetEnvironmentVariable(variable)) ? FromFile(path) : FromEnvironment(variable);

    /// <summary>Reads the PIN as UTF-8 bytes.</summary>
    /// <exception cref="HsmPinSourceException">the source is missing or empty.</exception>
    public byte[] Read()
    {
        string? pin;
        if (_value is not null)
        {
            return (byte[])_value.Clone();
        }

        if (_variable is not null)
        {
            pin = Environment.GetEnvironmentVariable(_variable);
            if (string.IsNullOrEmpty(pin))
            {
                throw new HsmPinSourceException($"environment variable {_variable} holds no PIN");
            }
        }
        else
        {
            if (!File.Exists(_file))
            {
                throw new HsmPinSourceException($"PIN file '{_file}' does not exist");
            }

            using var reader = new StreamReader(_file!, Encoding.UTF8);
            pin = reader.ReadLine()?.Trim();
            if (string.IsNullOrEmpty(pin))
            {
                throw new HsmPinSourceException($"PIN file '{_file}' is empty");
            }
        }

        return Encoding.UTF8.GetBytes(pin);
    }

    public override string ToString() => _value is not null ? "typed" : _variable is not null ? $"env:{_variable}" : $"file:{_file}";
}
