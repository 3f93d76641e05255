namespace EdgeActors.Messages.Serialization;

/// <summary>
/// How the wire format evolves between releases (docs/wire-format.md has the long version).
/// <para>
/// Every top-level payload of <see cref="EdgeCodec"/> is <c>[version byte][positional fields][extension fields]</c>:
/// </para>
/// <list type="bullet">
/// <item><b>Version byte</b> (<see cref="Version"/> = 1). It changes only for an incompatible change (a positional field
/// removed or re-typed); a reader refuses a version it does not know with a <c>SerializationException</c>. Compatible
/// changes never touch it.</item>
/// <item><b>Positional fields</b>: the fields of version 1 in a fixed order (varints, zig-zag, delta-encoded arrays, raw
/// floats), exactly as before versioning, so the hot messages (telemetry, frames, ingest streams, acks, sync batches)
/// cost one extra byte and no extra work. A release never removes, reorders or re-types them.</item>
/// <item><b>Extension fields</b> until the end of the payload, protobuf-like: a varint key <c>field &lt;&lt; 3 | wire
/// type</c> (<see cref="WireType"/>), then the value. A field a release adds to a message goes here, with the next
/// field number of that message (numbers start at 1 per message and are never reused). A reader uses the fields it
/// knows, <b>skips the ones it does not</b> (a newer release's) and keeps <b>defaults for missing ones</b> (an older
/// release's payload). A writer omits a field that holds its default, so encodings stay canonical.</item>
/// </list>
/// <para>
/// A new field of a nested item (an element of an array, a prediction inside an ack) is added as a top-level extension
/// field of the enclosing message (e.g. a parallel array), since nested items are positional. Garbage after the
/// positional fields still fails: a key with field number 0 or wire types 3, 4, 6, 7, or a truncated value, is malformed.
/// The persisted and federated-job formats use the same scheme (<see cref="VersionedBlob"/>).
/// </para>
/// </summary>
public static class WireFormat
{
    /// <summary>The format version this release writes and the only one it reads.</summary>
    public const byte Version = 1;

    /// <summary>
    /// Skips the extension fields that follow the known fields of a versioned blob (a later release's additions) in
    /// the formats outside the serializer (outbox rows, job step payloads); throws a
    /// <see cref="System.Runtime.Serialization.SerializationException"/> naming <paramref name="what"/> and the offset
    /// when <paramref name="fields"/> is not a sequence of well-formed extension fields.
    /// </summary>
    public static void SkipExtensions(ReadOnlySpan<byte> fields, string what)
    {
        var r = new BinReader(fields, what);
        r.EndMessage();
    }
}

/// <summary>Wire type in the low three bits of an extension field's key (the protobuf numbering).</summary>
public enum WireType : byte
{
    /// <summary>A LEB128 varint (zig-zag for signed values).</summary>
    Varint = 0,

    /// <summary>Eight little-endian bytes (a double, a long).</summary>
    Fixed64 = 1,

    /// <summary>A varint length, then that many bytes (strings, byte arrays, nested encodings).</summary>
    Len = 2,

    /// <summary>Four little-endian bytes (a float, an int).</summary>
    Fixed32 = 5,
}
