using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace Jpki.Hosting;

/// <summary>The credentials a service's protected operations accept; each one alone is enough.</summary>
[Flags]
public enum ApiCredentials
{
    None = 0,

    /// <summary><c>Authorization: Bearer</c> with an account's API token (or a CA session token).</summary>
    Bearer = 1,

    /// <summary>A client certificate registered to an account, on the service's mutual-TLS listener.</summary>
    ClientCertificate = 2,
}

/// <summary>What a service's OpenAPI document says about the service as a whole.</summary>
public sealed record ApiDocument
{
    /// <summary>The document's title, naming the service ("JPKI OCSP responder").</summary>
    public required string Title { get; init; }

    /// <summary>The API's version (<c>info.version</c>).</summary>
    public string Version { get; init; } = "1";

    public string? Description { get; init; }

    /// <summary>What the protected operations accept: the security schemes of the document.</summary>
    public ApiCredentials Credentials { get; init; } = ApiCredentials.None;

    /// <summary>
    /// The service's JSON leaves out null members (the CA's <c>WhenWritingNull</c>): a member that
    /// may be null is then not <c>required</c> in the schemas, which otherwise list every
    /// constructor parameter.
    /// </summary>
    public bool OmitsNullMembers { get; init; }
}

/// <summary>
/// Marks an endpoint whose handler, not ASP.NET Core's authorization, checks the caller (the
/// verifier access policy of the OCSP responder, the CRL publisher and the verification service),
/// so that its operation in the document carries the security requirement.
/// </summary>
public sealed class CredentialRequiredMetadata
{
    public static readonly CredentialRequiredMetadata Instance = new();

    private CredentialRequiredMetadata()
    {
    }
}

/// <summary>
/// The OpenAPI document (<c>/openapi/v1.json</c>, OpenAPI 3.1) and the browsable reference
/// (<c>/scalar</c>, Scalar's page with its script embedded in the package and served by the
/// service itself: no CDN, no fonts, telemetry or AI agent from outside) of every JPKI HTTP
/// service. The security schemes are those the service really accepts, applied per operation:
/// an operation is protected when it needs authorization (ASP.NET Core's, without
/// <c>AllowAnonymous</c>) or is marked <see cref="RequiresCredential{TBuilder}"/>. Both are
/// anonymous: they describe the API and hold no data (docs/decisions/0710).
/// </summary>
public static class ApiDocuments
{
    public const string DocumentName = "v1";

    public const string DocumentPath = "/openapi/v1.json";

    public const string ReferencePath = "/scalar";

    public const string BearerScheme = "bearer";

    public const string ClientCertificateScheme = "mutualTLS";

    public const string ProblemContentType = "application/problem+json";

    private const string ProblemSchemaId = "ProblemDetails";

    /// <summary>
    /// What the reference page may load: its own script and the document, from this service only.
    /// Scalar's bundle evaluates generated code and styles itself inline, hence those two allowances,
    /// limited to this page.
    /// </summary>
    public const string ReferencePolicy = "default-src 'none'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'; form-action 'none'";

    /// <summary>Registers the document generator for <paramref name="document"/>.</summary>
    public static IServiceCollection AddApiDocument(this IServiceCollection services, ApiDocument document)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(document);
        return services.AddOpenApi(DocumentName, options =>
        {
            options.OpenApiVersion = OpenApiSpecVersion.OpenApi3_1;
            options.AddDocumentTransformer((openApi, _, _) =>
            {
                openApi.Info = new OpenApiInfo { Title = document.Title, Version = document.Version, Description = document.Description };
                foreach (var server in openApi.Servers ?? [])
                {
                    server.Url = server.Url?.TrimEnd('/');
                }

                TagByResource(openApi);
                var schemes = SecuritySchemes(document.Credentials);
                if (schemes.Count > 0)
                {
                    openApi.Components ??= new OpenApiComponents();
                    openApi.Components.SecuritySchemes = schemes;
                }

                return Task.CompletedTask;
            });
            if (document.OmitsNullMembers)
            {
                options.AddSchemaTransformer((schema, context, _) =>
                {
                    if (schema is { Required.Count: > 0, Properties: { } properties })
                    {
                        // A nullable record member is a bare $ref in the schema: its nullability is the C# annotation's.
                        var nullable = context.JsonTypeInfo.Properties.Where(p => p.IsGetNullable).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
                        foreach (var name in schema.Required.Where(name => nullable.Contains(name) || (properties.TryGetValue(name, out var property) && AllowsNull(property))).ToList())
                        {
                            schema.Required.Remove(name);
                        }
                    }

                    return Task.CompletedTask;
                });
            }

            options.AddOperationTransformer((operation, context, cancellationToken) => DescribeOperationAsync(operation, context, document, cancellationToken));
        });
    }

    /// <summary>
    /// Each operation: a summary, its authorization policy, the 500 problem every service may
    /// answer, and its security requirement (with the 401/403 problems of the CA's handlers).
    /// </summary>
    private static async Task DescribeOperationAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, ApiDocument document, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var problem = await ProblemSchemaAsync(context, cancellationToken);
        operation.Responses ??= [];

        // Every operation has a summary (what a reader's sidebar shows); the route where none was written.
        if (string.IsNullOrWhiteSpace(operation.Summary))
        {
            operation.Summary = $"{context.Description.HttpMethod} /{context.Description.RelativePath}";
        }

        var policies = metadata.OfType<IAuthorizeData>().Select(a => a.Policy).OfType<string>().Distinct().ToList();
        if (policies.Count > 0 && !metadata.OfType<IAllowAnonymous>().Any())
        {
            operation.Description = (operation.Description is { Length: > 0 } text ? text + "\n\n" : "")
                + $"Authorization policy: {string.Join(", ", policies)} (docs/access-control.md).";
        }

        // Every service answers an unexpected failure as a 500 problem (ProblemAnswers).
        AddProblem(operation, problem, StatusCodes.Status500InternalServerError, "an unexpected error (details in the service's log)");
        if (!IsProtected(metadata) || document.Credentials == ApiCredentials.None)
        {
            // Said, not left out: an empty requirement is "no credential needed" (OpenAPI 3.1 §4.8.30).
            operation.Security = [new OpenApiSecurityRequirement()];
            return;
        }

        operation.Security = [];
        foreach (var name in SchemeNames(document.Credentials))
        {
            operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(name, context.Document)] = [] });
        }

        if (metadata.OfType<IAuthorizeData>().Any())
        {
            // ASP.NET Core's authorization answers these as problems (the CA's handlers).
            AddProblem(operation, problem, StatusCodes.Status401Unauthorized, "no credential, or a wrong or expired one");
            AddProblem(operation, problem, StatusCodes.Status403Forbidden, "the account's role may not do this");
        }
    }

    /// <summary>
    /// Maps <c>GET /openapi/v1.json</c> and the reference at <c>/scalar</c>, both anonymous (the
    /// CA's fallback policy would otherwise refuse them) and left out of the document themselves.
    /// </summary>
    public static void MapApiDocument(this WebApplication app, ApiDocument document)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(document);
        app.MapOpenApi(DocumentPath).AllowAnonymous().ExcludeFromDescription();
        app.MapScalarApiReference(ReferencePath, options => options
                .WithTitle(document.Title)
                .WithOpenApiRoutePattern(DocumentPath)
                .AddDocument(DocumentName, document.Title, DocumentPath)
                .DisableDefaultFonts()
                .DisableTelemetry()
                .DisableAgent()
                .DisableMcp()
                .HideDeveloperTools())
            .AllowAnonymous()
            .ExcludeFromDescription()
            .Add(endpoint =>
            {
                // The page's own policy over whatever the service sets on its pages (the kiosk's
                // allows no script file): set as the answer starts, after every middleware ran.
                var inner = endpoint.RequestDelegate!;
                endpoint.RequestDelegate = context =>
                {
                    context.Response.OnStarting(() =>
                    {
                        context.Response.Headers.ContentSecurityPolicy = ReferencePolicy;
                        return Task.CompletedTask;
                    });
                    return inner(context);
                };
            });
    }

    /// <summary>
    /// Says in the document that the endpoint's handler admits only callers with one of the
    /// document's credentials (it checks them itself).
    /// </summary>
    public static TBuilder RequiresCredential<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Add(endpoint => endpoint.Metadata.Add(CredentialRequiredMetadata.Instance));
        return builder;
    }

    /// <summary>
    /// Says in the document that the endpoint reads a <typeparamref name="T"/> as JSON, and the
    /// problems reading a JSON body can end in (malformed, too large, not JSON).
    /// </summary>
    public static RouteHandlerBuilder AcceptsJson<T>(this RouteHandlerBuilder builder)
        where T : notnull
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Accepts<T>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
    }

    /// <summary>Says in the document that the endpoint reads a DER body of <paramref name="mediaType"/> (not JSON: ApiExplorer cannot tell).</summary>
    public static TBuilder AcceptsBinary<TBuilder>(this TBuilder builder, string mediaType, string description)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Description = description,
                Content = new Dictionary<string, OpenApiMediaType>(StringComparer.Ordinal) { [mediaType] = new OpenApiMediaType { Schema = BinarySchema() } },
            };
            return Task.CompletedTask;
        });
    }

    /// <summary>Says in the document that the endpoint answers <paramref name="status"/> with a body of <paramref name="mediaType"/> (DER, PEM or text).</summary>
    public static TBuilder ProducesBinary<TBuilder>(this TBuilder builder, int status, string mediaType, string description)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Responses ??= [];
            var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (operation.Responses.TryGetValue(key, out var declared) && declared is OpenApiResponse { Content.Count: > 0 } typed)
            {
                // The same status also answers a typed body (Produces<T>): another media type beside it.
                typed.Content[mediaType] = new OpenApiMediaType { Schema = BinarySchema() };
                typed.Description = description;
                return Task.CompletedTask;
            }

            operation.Responses[key] = new OpenApiResponse
            {
                Description = description,
                Content = new Dictionary<string, OpenApiMediaType>(StringComparer.Ordinal) { [mediaType] = new OpenApiMediaType { Schema = BinarySchema() } },
            };
            return Task.CompletedTask;
        });
    }

    /// <summary>Declares a route parameter the handler reads itself (from the request, not as a bound argument).</summary>
    public static TBuilder WithPathParameter<TBuilder>(this TBuilder builder, string name, string description)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = name,
                In = ParameterLocation.Path,
                Required = true,
                Description = description,
                Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            });
            return Task.CompletedTask;
        });
    }

    /// <summary>Says in the document that the endpoint answers <paramref name="status"/> with no body.</summary>
    public static TBuilder ProducesNoBody<TBuilder>(this TBuilder builder, int status, string description)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Responses ??= [];
            operation.Responses[status.ToString(System.Globalization.CultureInfo.InvariantCulture)] = new OpenApiResponse { Description = description };
            return Task.CompletedTask;
        });
    }

    /// <summary>Octets, as OpenAPI 3.1 says a non-JSON body (<c>contentMediaType</c> is the media type's key itself).</summary>
    private static OpenApiSchema BinarySchema() => new() { Type = JsonSchemaType.String, Format = "binary" };

    /// <summary>
    /// One tag per resource, from the path (<c>/api/v1/feed/gaps</c>: feed; <c>/ocsp/...</c>: ocsp),
    /// with health and readiness under "health", rather than the generator's assembly and class names.
    /// </summary>
    private static void TagByResource(OpenApiDocument openApi)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (path, item) in openApi.Paths)
        {
            var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries).SkipWhile(s => s is "api" or "v1").ToList();
            var name = segments.Count == 0 ? "service" : segments[0] is "healthz" or "readyz" ? "health" : segments[0];
            names.Add(name);
            foreach (var operation in item.Operations?.Values ?? Enumerable.Empty<OpenApiOperation>())
            {
                operation.Tags = new HashSet<OpenApiTagReference> { new(name, openApi) };
            }
        }

        openApi.Tags = new HashSet<OpenApiTag>(names.Select(n => new OpenApiTag { Name = n }));
    }

    /// <summary>A schema that admits null: a type list with null, or a oneOf/anyOf with a null alternative.</summary>
    private static bool AllowsNull(IOpenApiSchema schema) =>
        (schema.Type is { } type && type.HasFlag(JsonSchemaType.Null))
        || (schema.OneOf?.Any(AllowsNull) ?? false)
        || (schema.AnyOf?.Any(AllowsNull) ?? false);

    private static bool IsProtected(IList<object> metadata) =>
        metadata.OfType<CredentialRequiredMetadata>().Any()
        || (metadata.OfType<IAuthorizeData>().Any() && !metadata.OfType<IAllowAnonymous>().Any());

    private static IEnumerable<string> SchemeNames(ApiCredentials credentials)
    {
        if (credentials.HasFlag(ApiCredentials.Bearer))
        {
            yield return BearerScheme;
        }

        if (credentials.HasFlag(ApiCredentials.ClientCertificate))
        {
            yield return ClientCertificateScheme;
        }
    }

    private static Dictionary<string, IOpenApiSecurityScheme> SecuritySchemes(ApiCredentials credentials)
    {
        var schemes = new Dictionary<string, IOpenApiSecurityScheme>(StringComparer.Ordinal);
        if (credentials.HasFlag(ApiCredentials.Bearer))
        {
            schemes[BearerScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "An account's API token (secrets/<account>.token on a demonstration install), or a session token from POST /api/v1/sessions on the CA API.",
            };
        }

        if (credentials.HasFlag(ApiCredentials.ClientCertificate))
        {
            schemes[ClientCertificateScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.MutualTLS,
                Description = "A client certificate whose SHA-256 fingerprint is registered to an enabled verifier account, on the service's mutual-TLS listener.",
            };
        }

        return schemes;
    }

    /// <summary>The problem+json schema (RFC 9457), once in the document's components.</summary>
    private static async Task<IOpenApiSchema> ProblemSchemaAsync(OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var schema = await context.GetOrCreateSchemaAsync(typeof(Microsoft.AspNetCore.Mvc.ProblemDetails), cancellationToken: cancellationToken);
        var document = context.Document!;
        if (document.Components?.Schemas?.ContainsKey(ProblemSchemaId) != true)
        {
            document.AddComponent(ProblemSchemaId, schema);
        }

        return new OpenApiSchemaReference(ProblemSchemaId, document);
    }

    private static void AddProblem(OpenApiOperation operation, IOpenApiSchema problem, int status, string description)
    {
        var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (operation.Responses!.ContainsKey(key))
        {
            return;
        }

        operation.Responses[key] = new OpenApiResponse
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType>(StringComparer.Ordinal)
            {
                [ProblemContentType] = new OpenApiMediaType { Schema = problem },
            },
        };
    }
}
