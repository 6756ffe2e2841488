package dev.vecnorm.dl4j;

import java.lang.reflect.Field;
import java.util.Objects;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.deeplearning4j.nn.layers.normalization.BatchNormalizationHelper;
import org.deeplearning4j.nn.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One-call installer of {@link VecnormBatchNormHelper} into every batch-normalization layer of a network.
 *
 * <p><b>How it attaches.</b> DL4J 1.0.0-M2.1 keeps a layer's helper in the package-private field
 * {@code BatchNormalization.helper}, set once in the layer's constructor by {@code HelperUtils.createHelper}
 * from hard-coded class names, with no setter. This class writes that field by reflection (which works
 * because DL4J runs on the class path, in the unnamed module), and resets {@code helperCountFail} so a
 * layer whose earlier helper failed uses the new one.
 *
 * <p><b>When to call it again.</b> The helper belongs to a layer object, and DL4J makes new layer objects
 * in {@code init()} (also the implicit one in the first {@code fit}/{@code output} of a network never
 * initialized), {@code clone()}, {@code ModelSerializer.restoreMultiLayerNetwork}/{@code restoreComputationGraph}
 * and {@code load}, {@code TransferLearning...build()}, and ParallelWrapper's per-worker copies. Call
 * {@code install} on the resulting network after each of these. {@code setParams}, {@code fit} and
 * {@code output} keep the layers and the helpers.
 */
public final class VecnormHelpers {

  private static final Field HELPER = field("helper");
  private static final Field HELPER_COUNT_FAIL = field("helperCountFail");

  private VecnormHelpers() {}

  /**
   * Installs a vecnorm helper into every batch-normalization layer of {@code net}, replacing any other helper.
   * The helpers use as many threads as ND4J runs ({@code Nd4j.getEnvironment().maxThreads()}, read now).
   *
   * @return the number of layers that got one
   * @throws IllegalStateException if {@code net.init()} has not been called
   */
  public static int install(MultiLayerNetwork net) {
    Objects.requireNonNull(net, "net");
    return install(net, Nd4j.getEnvironment().maxThreads());
  }

  /** {@link #install(MultiLayerNetwork)} for a {@link ComputationGraph}. */
  public static int install(ComputationGraph graph) {
    Objects.requireNonNull(graph, "graph");
    return install(graph, Nd4j.getEnvironment().maxThreads());
  }

  /**
   * {@link #install(MultiLayerNetwork)} with the helpers on up to {@code threads} threads instead of ND4J's
   * {@code maxThreads()} (1: vecnorm's single-threaded kernels).
   *
   * @throws IllegalArgumentException if {@code threads < 1}
   */
  public static int install(MultiLayerNetwork net, int threads) {
    return installInitialized(Objects.requireNonNull(net, "net").getLayers(), "net", threads);
  }

  /** {@link #install(MultiLayerNetwork, int)} for a {@link ComputationGraph}. */
  public static int install(ComputationGraph graph, int threads) {
    return installInitialized(Objects.requireNonNull(graph, "graph").getLayers(), "graph", threads);
  }

  private static int installInitialized(Layer[] layers, String name, int threads) {
    VecnormBatchNormHelper.checkThreads(threads);
    if (layers == null) {
      throw new IllegalStateException(name + " has no layers yet: call " + name + ".init() before install(" + name + ")");
    }
    return install(threads, layers);
  }

  /** Installs into each batch-normalization layer among {@code layers}, looking through wrappers such as {@code FrozenLayer}. */
  public static int install(Layer... layers) {
    return install(Nd4j.getEnvironment().maxThreads(), layers);
  }

  private static int install(int threads, Layer[] layers) {
    int installed = 0;
    for (Layer layer : layers) {
      BatchNormalization bn = batchNorm(layer);
      if (bn == null) continue;
      set(bn, new VecnormBatchNormHelper(bn.layerConf(), threads));
      installed++;
    }
    return installed;
  }

  /** True when {@code layer} (or the layer it wraps) is a batch-normalization layer running a vecnorm helper. */
  public static boolean isInstalled(Layer layer) {
    BatchNormalization bn = batchNorm(layer);
    return bn != null && bn.getHelper() instanceof VecnormBatchNormHelper;
  }

  private static BatchNormalization batchNorm(Layer layer) {
    while (layer instanceof BaseWrapperLayer wrapper) layer = wrapper.getUnderlying();
    return layer instanceof BatchNormalization bn ? bn : null;
  }

  private static void set(BatchNormalization layer, BatchNormalizationHelper helper) {
    try {
      HELPER.set(layer, helper);
      HELPER_COUNT_FAIL.setInt(layer, 0);
    } catch (IllegalAccessException e) {
      throw new IllegalStateException("cannot write BatchNormalization.helper", e);
    }
  }

  private static Field field(String name) {
    try {
      Field f = BatchNormalization.class.getDeclaredField(name);
      f.setAccessible(true);
      return f;
    } catch (ReflectiveOperationException | RuntimeException e) {
      throw new ExceptionInInitializerError("DL4J's BatchNormalization has no accessible field '" + name
          + "': this installer is written for deeplearning4j-nn 1.0.0-M2.1 (" + e + ")");
    }
  }
}
