using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Jpki.Hosting;

/// <summary>How a service listens; the rest of its configuration is its own.</summary>
public sealed record ListenOptions
{
    /// <summary>Plain HTTP address(es), <c>;</c>-separated; port 0 picks a free port (<c>app.Urls</c> has it once started).</summary>
    public required string Urls { get; init; }

    /// <summary>The service's name in messages ("the CA API").</summary>
    public required string Service { get; init; }

    /// <summary>Refuse any non-loopback address (<see cref="Loopback.EnsureListenUrls"/>).</summary>
    public bool LoopbackOnly { get; init; }

    /// <summary>An HTTPS listener with optional client certificates beside the plain one.</summary>
    public MutualTlsListener? MutualTls { get; init; }

    /// <summary>Kestrel's request body limit; null keeps Kestrel's default (30 MB).</summary>
    public long? MaxRequestBodyBytes { get; init; }

    /// <summary>Runs after the shared logging set-up (tests add a capturing provider here).</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }
}

/// <summary>
/// The start every JPKI web service shares: the slim builder, the listen addresses, logs as JSON
/// lines with UTC timestamps and trace ids on standard output (<see cref="JsonLineFormatter"/>), and
/// one line per request outcome (<see cref="RequestLog"/>). Hosting's own request log is kept at
/// warnings: it carries paths and headers, none needed, and a client may put personal data in a URL.
/// </summary>
public static class ServiceHost
{
    public const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    /// <exception cref="InvalidOperationException">A non-loopback address where <see cref="ListenOptions.LoopbackOnly"/> is set.</exception>
    public static WebApplicationBuilder CreateBuilder(ListenOptions listen)
    {
        ArgumentNullException.ThrowIfNull(listen);
        if (listen.LoopbackOnly)
        {
            Loopback.EnsureListenUrls(listen.Urls, listen.Service);
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseUrls(listen.MutualTls is { } tls ? tls.Configure(builder.WebHost, listen.Urls) : listen.Urls);
        if (listen.MaxRequestBodyBytes is { } max)
        {
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = max);
        }

        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(console => console.FormatterName = JsonLineFormatter.FormatterName)
            .AddConsoleFormatter<JsonLineFormatter, ConsoleFormatterOptions>();
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Services.AddSingleton<IStartupFilter>(new RequestLog(listen.Service));
        listen.ConfigureLogging?.Invoke(builder.Logging);
        return builder;
    }

    /// <summary>
    /// Builds the app and runs <paramref name="open"/> on it at once (open the store, the token,
    /// check the ceremony ran), so that a wrong PIN fails the start rather than the first request;
    /// if it throws, the app and what its container made are disposed.
    /// </summary>
    public static WebApplication BuildAndOpen(this WebApplicationBuilder builder, Action<WebApplication> open)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(open);
        var app = builder.Build();
        try
        {
            open(app);
        }
        catch
        {
            ((IDisposable)app).Dispose();
            throw;
        }

        return app;
    }

    /// <summary>Stops the service with <paramref name="exitCode"/> (for a loop that finds the service must not go on, e.g. its code predates the schema).</summary>
    public static void StopWithExitCode(this IServiceProvider provider, int exitCode)
    {
        ArgumentNullException.ThrowIfNull(provider);
        Environment.ExitCode = exitCode;
        provider.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>().StopApplication();
    }

    /// <summary>The value of <c>--urls URL</c> in a process's arguments, else <paramref name="configured"/>.</summary>
    public static string UrlsArgument(IReadOnlyList<string> args, string configured) =>
        OptionArgument(args, "--urls") ?? configured;

    /// <summary>The value of <c>NAME VALUE</c> in a process's arguments (the last one given), else null.</summary>
    public static string? OptionArgument(IReadOnlyList<string> args, string name)
    {
        ArgumentNullException.ThrowIfNull(args);
        string? value = null;
        for (var i = 0; i < args.Count - 1; i++)
        {
            if (args[i] == name)
            {
                value = args[i + 1];
            }
        }

        return value;
    }
}
