package dev.vecnorm.dl4j.bench;

import dev.vecnorm.dl4j.VecnormHelpers;
import java.util.concurrent.TimeUnit;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.ResetPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * DL4J 1.0.0-M2.1's BatchNormalization layer as shipped (CPU: the built-in ND4J-op path, its helpers are
 * disabled) against the same layer with {@link VecnormHelpers#install}: training forward, inference,
 * training forward + backward (DL4J's built-in backward needs the forward's xHat, so backward alone cannot
 * be timed on its path), and one {@code fit} step of BN -> global average pooling -> softmax.
 * ND4J keeps its default thread count (2 here, {@code OMP_NUM_THREADS} changes it).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch", "--add-modules", "jdk.incubator.vector",
    "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
    "-Dorg.bytedeco.javacpp.maxbytes=4G", "-Dorg.bytedeco.javacpp.maxphysicalbytes=6G"})
public class Dl4jBatchNormBenchmark {

  /** N x H x W x C. */
  @Param({"64x56x56x64", "32x14x14x256"})
  public String shape;

  @Param({"NHWC", "NCHW"})
  public CNN2DFormat layout;

  /**
   * Named so it sorts last: JMH orders parameters by name, and A/B should alternate per shape and layout.
   * {@code dl4j}: as shipped. {@code vecnorm1}: {@code VecnormHelpers.install(net, 1)}, the single-threaded
   * kernels. {@code vecnorm}: {@code VecnormHelpers.install(net)}, as many threads as ND4J runs.
   * {@code onednn} (run with {@code -p variant=onednn,...}): DL4J's {@code MKLDNNBatchNormHelper} put in the
   * layer by hand, as M2.1 never enables it (its check looks up a class that no longer exists); it runs
   * libnd4j's {@code batchnorm} op, which is oneDNN's only with the oneDNN build of the natives
   * ({@code ./bench --onednn}).
   */
  @Param({"dl4j", "vecnorm1", "vecnorm"})
  public String variant;

  private Layer layer;
  private INDArray epsilon;
  private MultiLayerNetwork fitNet;
  private DataSet batch;
  private final LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
  /** Activations in a workspace configured as DL4J's output() configures its WS_LAYER_ACT workspaces. */
  private final LayerWorkspaceMgr workspaceMgr = LayerWorkspaceMgr.builder().defaultNoWorkspace()
      .with(ArrayType.ACTIVATIONS, "BENCH_LAYER_ACT", WorkspaceConfiguration.builder().initialSize(0).overallocationLimit(0.02)
          .policyLearning(LearningPolicy.FIRST_LOOP).policyReset(ResetPolicy.BLOCK_LEFT).policySpill(SpillPolicy.REALLOCATE)
          .policyAllocation(AllocationPolicy.OVERALLOCATE).build())
      .build();

  @Setup(Level.Trial)
  public void setup() {
    String[] d = shape.split("x");
    int n = Integer.parseInt(d[0]), h = Integer.parseInt(d[1]), w = Integer.parseInt(d[2]), c = Integer.parseInt(d[3]);
    long[] dims = layout == CNN2DFormat.NCHW ? new long[] {n, c, h, w} : new long[] {n, h, w, c};
    Nd4j.getRandom().setSeed(42);
    INDArray x = Nd4j.randn(DataType.FLOAT, dims).muli(2).addi(1);
    epsilon = Nd4j.randn(DataType.FLOAT, dims);

    MultiLayerNetwork single = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).list()
        .layer(new BatchNormalization.Builder().nOut(c).build())
        .setInputType(InputType.convolutional(h, w, c, layout)).build());
    single.init();
    single.initGradientsView();
    fitNet = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).updater(new Sgd(0.01)).list()
        .layer(new BatchNormalization.Builder().build())
        .layer(new GlobalPoolingLayer.Builder(PoolingType.AVG).build())
        .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(10).activation(Activation.SOFTMAX).build())
        .setInputType(InputType.convolutional(h, w, c, layout)).build());
    fitNet.init();
    switch (variant) {
      case "dl4j" -> { }
      case "vecnorm1" -> {
        VecnormHelpers.install(single, 1);
        VecnormHelpers.install(fitNet, 1);
      }
      case "vecnorm" -> {
        VecnormHelpers.install(single);
        VecnormHelpers.install(fitNet);
      }
      case "onednn" -> {
        forceOneDnn(single.getLayer(0));
        forceOneDnn(fitNet.getLayer(0));
      }
      default -> throw new IllegalArgumentException("variant must be dl4j, vecnorm1, vecnorm or onednn, got " + variant);
    }
    System.out.println("# ND4J maxThreads " + Nd4j.getEnvironment().maxThreads() + ", natives "
        + System.getProperty("org.bytedeco.javacpp.platform.extension", "(default)")
        + (org.nd4j.nativeblas.NativeOpsHolder.getInstance().getDeviceNativeOps().buildInfo().contains("HAVE_ONEDNN") ? " (HAVE_ONEDNN)" : "")
        + ", helper "
        + (single.getLayer(0) instanceof org.deeplearning4j.nn.layers.normalization.BatchNormalization bn && bn.getHelper() != null
            ? bn.getHelper().getClass().getSimpleName()
              + (bn.getHelper() instanceof dev.vecnorm.dl4j.VecnormBatchNormHelper v ? " on " + v.threads() + " thread(s)" : "")
            : "none"));
    layer = single.getLayer(0);
    layer.setInput(x, mgr);
    INDArray labels = Nd4j.zeros(DataType.FLOAT, n, 10);
    for (int i = 0; i < n; i++) labels.putScalar(i, i % 10, 1f);
    batch = new DataSet(x, labels);
  }

  private static void forceOneDnn(Layer layer) {
    try {
      java.lang.reflect.Field f = org.deeplearning4j.nn.layers.normalization.BatchNormalization.class.getDeclaredField("helper");
      f.setAccessible(true);
      f.set(layer, new org.deeplearning4j.nn.layers.mkldnn.MKLDNNBatchNormHelper(DataType.FLOAT));
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  @Benchmark
  public INDArray trainingForward() {
    return layer.activate(true, mgr);
  }

  @Benchmark
  public INDArray inference() {
    return layer.activate(false, mgr);
  }

  /**
   * Inference as {@code MultiLayerNetwork.output} runs it: the output in a workspace of DL4J's own layer-activation
   * configuration, so its memory is reused instead of freshly allocated (and page-faulted) on every call.
   */
  @Benchmark
  public float inferenceInWorkspace() {
    try (MemoryWorkspace ignored = workspaceMgr.notifyScopeEntered(ArrayType.ACTIVATIONS)) {
      INDArray y = layer.activate(false, workspaceMgr);
      return y.getFloat(y.length() - 1); // the array dies with the scope: return one element of it
    }
  }

  @Benchmark
  public INDArray trainingForwardBackward() {
    layer.activate(true, mgr);
    return layer.backpropGradient(epsilon, mgr).getSecond();
  }

  @Benchmark
  public double fitStep() {
    fitNet.fit(batch);
    return fitNet.score();
  }
}
