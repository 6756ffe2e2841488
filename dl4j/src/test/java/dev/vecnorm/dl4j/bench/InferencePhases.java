package dev.vecnorm.dl4j.bench;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.NormShape;
import dev.vecnorm.dl4j.NdSegments;
import java.lang.foreign.MemorySegment;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.ResetPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;

/**
 * Where the time of the helper's inference goes, per call, on NHWC 32x14x14x256: creating the output array
 * (as the helper does, with and without a workspace configured like DL4J's layer activations), then the kernel
 * on ND4J's native buffers, against the same kernel on {@code float[]}. A stopwatch diagnostic in one JVM, not
 * a JMH benchmark: run it under the measurement lock, with the forks' flags (see the README).
 */
public final class InferencePhases {
  private InferencePhases() {}

  public static void main(String[] a) {
    long[] dims = {32, 14, 14, 256};
    NormShape s = new NormShape(32 * 14 * 14, 256, 1);
    INDArray x = Nd4j.randn(DataType.FLOAT, dims);
    MemorySegment xs = NdSegments.denseFloats(x);
    float[] g = new float[256], b = new float[256], m = new float[256], v = new float[256];
    java.util.Arrays.fill(g, 1); java.util.Arrays.fill(v, 1);
    WorkspaceConfiguration wc = WorkspaceConfiguration.builder().initialSize(0).overallocationLimit(0.02)
        .policyLearning(LearningPolicy.FIRST_LOOP).policyReset(ResetPolicy.BLOCK_LEFT).policySpill(SpillPolicy.REALLOCATE)
        .policyAllocation(AllocationPolicy.OVERALLOCATE).build();
    LayerWorkspaceMgr ws = LayerWorkspaceMgr.builder().defaultNoWorkspace().with(ArrayType.ACTIVATIONS, "P_ACT", wc).build();
    LayerWorkspaceMgr none = LayerWorkspaceMgr.noWorkspaces();
    float[] ya = new float[(int) x.length()], xa = new float[ya.length];
    for (String mode : new String[]{"no workspace", "workspace", "float[] kernel only", "no workspace", "workspace"}) {
      int n = 400; long alloc = 0, kernel = 0; double[] per = new double[n];
      for (int i = 0; i < n; i++) {
        long t0 = System.nanoTime(), t1, t2;
        if (mode.startsWith("float")) {
          t1 = System.nanoTime();
          BatchNorm.forwardInference(s, xa, 0, g, b, m, v, 1e-5f, ya, 0);
        } else if (mode.equals("workspace")) {
          try (var sc = ws.notifyScopeEntered(ArrayType.ACTIVATIONS)) {
            INDArray y = ws.createUninitialized(ArrayType.ACTIVATIONS, DataType.FLOAT, dims, 'c');
            t1 = System.nanoTime();
            BatchNorm.forwardInference(s, xs, 0, g, b, m, v, 1e-5f, NdSegments.denseFloats(y), 0);
          }
        } else {
          INDArray y = none.createUninitialized(ArrayType.ACTIVATIONS, DataType.FLOAT, dims, 'c');
          t1 = System.nanoTime();
          BatchNorm.forwardInference(s, xs, 0, g, b, m, v, 1e-5f, NdSegments.denseFloats(y), 0);
        }
        t2 = System.nanoTime();
        if (i >= n / 2) { alloc += t1 - t0; kernel += t2 - t1; }
      }
      System.out.printf("%-22s allocation %.3f ms/call, kernel %.3f ms/call (mean of the last %d calls)%n", mode, alloc / 1e6 / (n / 2), kernel / 1e6 / (n / 2), n / 2);
    }
  }
}
