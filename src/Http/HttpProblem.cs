namespace EdgeActors.Http;

/// <summary>
/// A request refused with an HTTP status and a message for the caller (the body is <c>{"error": Message}</c>; gRPC maps
/// the status to its own code). Thrown by the plain parsing classes and caught at the endpoint.
/// </summary>
public sealed class HttpProblem(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    public static HttpProblem BadRequest(string message) => new(400, message);

    public static HttpProblem NotFound(string message) => new(404, message);

    public static HttpProblem Unauthorized(string message) => new(401, message);

    public static HttpProblem Forbidden(string message) => new(403, message);

    public static HttpProblem TooLarge(string message) => new(413, message);

    public static HttpProblem Unavailable(string message) => new(503, message);

    public static HttpProblem Timeout(string message) => new(504, message);
}
