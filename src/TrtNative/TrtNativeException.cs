namespace TrtNative;

/// <summary>What went wrong, coarse enough for a caller to act on (rebuild a plan, fix a model, pick a smaller batch).</summary>
public enum ErrorCode
{
    /// <summary>No error.</summary>
    Ok = 0,
    /// <summary>An argument to an API call is out of range or inconsistent.</summary>
    InvalidArgument = 1,
    /// <summary>The ONNX file could not be parsed (truncated, corrupt, not ONNX).</summary>
    InvalidModel = 2,
    /// <summary>The model uses an op, attribute or data type outside the supported set.</summary>
    Unsupported = 3,
    /// <summary>Shapes in the model or given at run time are inconsistent.</summary>
    ShapeMismatch = 4,
    /// <summary>A serialized plan was made for another GPU, library version, model or config: rebuild it.</summary>
    StalePlan = 5,
    /// <summary>A serialized plan is damaged (bad magic, checksum or truncated).</summary>
    CorruptPlan = 6,
    /// <summary>The GPU could not satisfy an allocation.</summary>
    OutOfMemory = 7,
    /// <summary>A CUDA, cuDNN or cuBLASLt call failed.</summary>
    CudaError = 8,
    /// <summary>The native library could not be loaded or has the wrong ABI version.</summary>
    NativeLibrary = 9,
    /// <summary>No usable GPU is present.</summary>
    NoDevice = 10,
    /// <summary>Anything else; the message says what.</summary>
    Internal = 99,
}

/// <summary>The one exception type TrtNative throws for its own failures; <see cref="Code"/> says what kind.</summary>
public sealed class TrtNativeException : Exception
{
    /// <summary>Creates an exception with a code and a message that names the problem.</summary>
    public TrtNativeException(ErrorCode code, string message, Exception? inner = null) : base(message, inner) => Code = code;

    /// <summary>What kind of failure this is.</summary>
    public ErrorCode Code { get; }
}
