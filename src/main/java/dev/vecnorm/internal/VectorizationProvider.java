package dev.vecnorm.internal;

import java.lang.System.Logger.Level;
import java.util.Optional;

/**
 * Chooses the kernel implementation once, as Lucene's {@code VectorizationProvider} does: a chain of
 * guards, each of which logs one {@code WARNING} naming the fix and falls back to scalar. What was
 * chosen (the vector shape, or scalar forced by a property) is logged at {@code DEBUG} (JUL
 * {@code FINE}), so a correctly configured run prints nothing; {@code -D}{@value #VERBOSE_PROPERTY}{@code =true}
 * also prints it as one line on standard error. The Panama class is loaded by name so that the rest
 * of the library never links against {@code jdk.incubator.vector}.
 *
 * <p>System property {@value #FORCE_SCALAR_PROPERTY}{@code =true} forces the scalar implementation
 * (tests, benchmarks, debugging).
 */
public final class VectorizationProvider {

  public static final String FORCE_SCALAR_PROPERTY = "vecnorm.forceScalar";
  /** {@code -Dvecnorm.verbose=true}: print the implementation choice as one line on standard error. */
  public static final String VERBOSE_PROPERTY = "vecnorm.verbose";
  static final String PANAMA_CLASS = "dev.vecnorm.internal.PanamaBatchNormSupport";
  static final String PANAMA_MATMUL_CLASS = "dev.vecnorm.internal.PanamaMatMul";
  static final String PANAMA_FUSED_CLASS = "dev.vecnorm.internal.PanamaFusedRelu";
  static final String PANAMA_LAYER_NORM_CLASS = "dev.vecnorm.internal.PanamaLayerNormSupport";
  static final String PANAMA_GROUP_NORM_CLASS = "dev.vecnorm.internal.PanamaGroupNormSupport";
  private static final String VECTOR_MODULE = "jdk.incubator.vector";
  private static final System.Logger LOG = System.getLogger("dev.vecnorm");

  private static final BatchNormSupport INSTANCE = lookup();
  private static final MatMulSupport MATMUL = lookupMatMul();
  private static final FusedReluSupport FUSED = lookupFused();
  private static final LayerNormSupport LAYER_NORM = INSTANCE == scalar() ? ScalarLayerNormSupport.INSTANCE
      : loadIfUsable(PANAMA_LAYER_NORM_CLASS, LayerNormSupport.class).orElse(ScalarLayerNormSupport.INSTANCE);
  private static final GroupNormSupport GROUP_NORM = INSTANCE == scalar() ? ScalarGroupNormSupport.INSTANCE
      : loadIfUsable(PANAMA_GROUP_NORM_CLASS, GroupNormSupport.class).orElse(ScalarGroupNormSupport.INSTANCE);

  private VectorizationProvider() {}

  /** The implementation the public facade uses. */
  public static BatchNormSupport get() {
    return INSTANCE;
  }

  /** The matrix multiply the Dense layer uses: Panama exactly when the batch-norm kernels are. */
  public static MatMulSupport matMul() {
    return MATMUL;
  }

  public static MatMulSupport scalarMatMul() {
    return ScalarMatMul.INSTANCE;
  }

  /** The Vector API matrix multiply if this JVM can run it. */
  public static Optional<MatMulSupport> panamaMatMul() {
    return loadIfUsable(PANAMA_MATMUL_CLASS, MatMulSupport.class);
  }

  private static MatMulSupport lookupMatMul() {
    if (INSTANCE == scalar()) return ScalarMatMul.INSTANCE;
    return panamaMatMul().orElse(ScalarMatMul.INSTANCE);
  }

  /** Fused BN + ReLU kernels: Panama exactly when the batch-norm kernels are. */
  public static FusedReluSupport fusedRelu() {
    return FUSED;
  }

  public static FusedReluSupport scalarFusedRelu() {
    return ScalarFusedRelu.INSTANCE;
  }

  public static Optional<FusedReluSupport> panamaFusedRelu() {
    return loadIfUsable(PANAMA_FUSED_CLASS, FusedReluSupport.class);
  }

  private static FusedReluSupport lookupFused() {
    if (INSTANCE == scalar()) return ScalarFusedRelu.INSTANCE;
    return panamaFusedRelu().orElse(ScalarFusedRelu.INSTANCE);
  }

  /** Layer-norm and RMS-norm kernels: Panama exactly when the batch-norm kernels are. */
  public static LayerNormSupport layerNorm() {
    return LAYER_NORM;
  }

  public static LayerNormSupport scalarLayerNorm() {
    return ScalarLayerNormSupport.INSTANCE;
  }

  public static Optional<LayerNormSupport> panamaLayerNorm() {
    return loadIfUsable(PANAMA_LAYER_NORM_CLASS, LayerNormSupport.class);
  }

  /** Group-norm kernels: Panama exactly when the batch-norm kernels are. */
  public static GroupNormSupport groupNorm() {
    return GROUP_NORM;
  }

  public static GroupNormSupport scalarGroupNorm() {
    return ScalarGroupNormSupport.INSTANCE;
  }

  public static Optional<GroupNormSupport> panamaGroupNorm() {
    return loadIfUsable(PANAMA_GROUP_NORM_CLASS, GroupNormSupport.class);
  }

  public static BatchNormSupport scalar() {
    return ScalarBatchNormSupport.INSTANCE;
  }

  /** The Vector API implementation if this JVM can run it, regardless of {@value #FORCE_SCALAR_PROPERTY}. */
  public static Optional<BatchNormSupport> panama() {
    return loadIfUsable(PANAMA_CLASS, BatchNormSupport.class);
  }

  /** A Panama class by name when the vector module is present and the class constructs here; else empty. */
  private static <T> Optional<T> loadIfUsable(String className, Class<T> type) {
    if (ModuleLayer.boot().findModule(VECTOR_MODULE).isEmpty()) return Optional.empty();
    try {
      return Optional.of(type.cast(newInstance(className)));
    } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
      return Optional.empty();
    }
  }

  private static BatchNormSupport lookup() {
    if (Boolean.getBoolean(FORCE_SCALAR_PROPERTY)) {
      announce("vecnorm: scalar kernels forced by -D" + FORCE_SCALAR_PROPERTY + "=true");
      return scalar();
    }
    Optional<Module> vectorModule = ModuleLayer.boot().findModule(VECTOR_MODULE);
    if (vectorModule.isEmpty()) {
      LOG.log(Level.WARNING, "vecnorm: Java Vector API is not enabled, using the slower scalar kernels. "
          + "Add --add-modules " + VECTOR_MODULE + " to the java command line to enable the vectorized kernels.");
      return scalar();
    }
    // On the module path our module reads the incubator module only if it was resolved; make it so.
    VectorizationProvider.class.getModule().addReads(vectorModule.get());
    if (!isC2Enabled()) {
      LOG.log(Level.WARNING, "vecnorm: the C2 JIT compiler is disabled (-XX:TieredStopAtLevel < 4 or -Xint), "
          + "so the Vector API would be slower than scalar code; using the scalar kernels. Remove that JVM flag to enable them.");
      return scalar();
    }
    try {
      BatchNormSupport panama = loadPanama();
      announce("vecnorm: Java Vector API enabled (" + describePanama() + ")");
      return panama;
    } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
      LOG.log(Level.WARNING, "vecnorm: Java Vector API is present but unusable here (" + rootMessage(e)
          + "); using the scalar kernels. Run on a CPU/JVM with 128-bit or wider float vectors (C2, x86 AVX or ARM NEON).");
      return scalar();
    }
  }

  /**
   * The choice, when nothing is wrong: debug level, as every run would otherwise print it (and JUL's
   * default format spends two lines per record). One stderr line on request.
   */
  private static void announce(String message) {
    LOG.log(Level.DEBUG, message);
    if (Boolean.getBoolean(VERBOSE_PROPERTY)) System.err.println(message);
  }

  private static BatchNormSupport loadPanama() throws ReflectiveOperationException {
    return (BatchNormSupport) newInstance(PANAMA_CLASS);
  }

  private static Object newInstance(String className) throws ReflectiveOperationException {
    Class<?> c = Class.forName(className, true, VectorizationProvider.class.getClassLoader());
    return c.getDeclaredConstructor().newInstance();
  }

  private static String describePanama() {
    try {
      return (String) Class.forName(PANAMA_CLASS).getDeclaredMethod("describe").invoke(null);
    } catch (ReflectiveOperationException e) {
      return "details unavailable";
    }
  }

  private static String rootMessage(Throwable e) {
    while (e.getCause() != null) e = e.getCause();
    return e.getClass().getSimpleName() + ": " + e.getMessage();
  }

  // ---------------------------------------------------------------- weight norm

  static final String PANAMA_WEIGHT_NORM_CLASS = "dev.vecnorm.internal.PanamaWeightNormSupport";

  /** Resolved on first use, after {@link #INSTANCE}: Panama exactly when the batch-norm kernels are. */
  private static final class WeightNormChoice {
    static final WeightNormSupport IMPL = INSTANCE == scalar() ? ScalarWeightNormSupport.INSTANCE
        : panamaWeightNorm().orElse(ScalarWeightNormSupport.INSTANCE);
  }

  /** Weight-norm passes: Panama exactly when the batch-norm kernels are. */
  public static WeightNormSupport weightNorm() {
    return WeightNormChoice.IMPL;
  }

  public static WeightNormSupport scalarWeightNorm() {
    return ScalarWeightNormSupport.INSTANCE;
  }

  public static Optional<WeightNormSupport> panamaWeightNorm() {
    return loadIfUsable(PANAMA_WEIGHT_NORM_CLASS, WeightNormSupport.class);
  }

  /** Hardware FMA: without it {@code Vector.fma} is emulated exactly and very slowly. */
  static boolean hasFastFma() {
    String v = vmOption("UseFMA");
    return v == null || Boolean.parseBoolean(v);
  }

  private static boolean isC2Enabled() {
    String level = vmOption("TieredStopAtLevel");
    if (level != null && Integer.parseInt(level) < 4) return false;
    return !"interpreted mode".equals(System.getProperty("java.vm.info"));
  }

  /**
   * Bytes from a {@code float[]}'s start to its element 0 in this VM, for the kernels that guess where a large array's
   * lines fall ({@code PanamaBatchNormSupport.head}): HotSpot's 64-bit layout is a header (8 bytes with compact object
   * headers, {@code -XX:+UseCompactObjectHeaders}; 12 with compressed class pointers, the default; 16 without them)
   * and a 4-byte length. 16 when the options cannot be read (no java.management, another VM): a wrong guess costs
   * speed (line-split loads), never a result: the heads only move where elementwise vectors start, and the rebuilt
   * line-aligned loads of the reductions keep every lane's value.
   */
  static int floatArrayBaseBytes() {
    if ("true".equals(vmOption("UseCompactObjectHeaders"))) return 12;
    if ("false".equals(vmOption("UseCompressedClassPointers"))) return 20;
    return 16;
  }

  /** A HotSpot VM option, or null when java.management or the option is unavailable. */
  private static String vmOption(String name) {
    try {
      var bean = java.lang.management.ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
      return bean == null ? null : bean.getVMOption(name).getValue();
    } catch (LinkageError | RuntimeException e) {
      return null;
    }
  }
}
