package dev.vecnorm;

import dev.vecnorm.internal.FusedReluSupport;
import dev.vecnorm.internal.ScalarBatchNormSupport;
import dev.vecnorm.internal.Scratch;
import dev.vecnorm.internal.VectorizationProvider;

/**
 * Batch norm fused with ReLU, and with a residual add before the ReLU (the ResNet block:
 * {@code y = max(0, BN(x) + residual)}), each direction in one pass over memory, as oneDNN's
 * {@code fuse_norm_relu}. The ReLU mask is recomputed from the forward output {@code y} instead of a
 * workspace, so backward needs {@code x} and {@code y}: do not run the forward in place when you will
 * run the backward. Conventions, argument checks and aliasing rules as {@link BatchNorm};
 * {@code residual} and {@code dResidual} may be null. In place: {@code y} may be {@code x} or
 * {@code residual}; {@code dx} may be {@code dy}, {@code x} or {@code y}; {@code dResidual} may be
 * {@code dy}, and must not overlap {@code dx}, {@code x} or {@code y} at all (it is stored before
 * {@code x} is read, and both gradients are results).
 */
public final class BatchNormRelu {
  private static final FusedReluSupport FUSED = VectorizationProvider.fusedRelu();

  private BatchNormRelu() {}

  /**
   * Training: batch statistics as {@link BatchNorm#forwardTraining}, then {@code y = max(0, BN(x) + residual)}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param residual tensor added before the ReLU: {@code s.size()} floats from element offset {@code residualOffset}, or null for none; may be {@code y} at the same offset
   * @param residualOffset element offset of {@code residual}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: {@code s.size()} floats from element offset {@code yOffset}; may be {@code x} or {@code residual} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   * @param batchMean output: per-channel batch mean, {@code float[channels]}
   * @param batchVariance output: per-channel biased batch variance, {@code float[channels]}
   * @param invStd output: per-channel {@code 1 / sqrt(batchVariance + epsilon)}, {@code float[channels]}
   */
  public static void forwardTraining(NormShape s, float[] x, int xOffset, float[] residual, int residualOffset,
                                     float[] gamma, float[] beta, float epsilon, float[] y, int yOffset,
                                     float[] batchMean, float[] batchVariance, float[] invStd) {
    forwardTraining(Kernels.DEFAULT, FUSED, s, x, xOffset, residual, residualOffset, gamma, beta, epsilon, y, yOffset,
        batchMean, batchVariance, invStd);
  }

  static void forwardTraining(Kernels k, FusedReluSupport fused, NormShape s, float[] x, int xOffset, float[] residual,
                              int residualOffset, float[] gamma, float[] beta, float epsilon, float[] y, int yOffset,
                              float[] batchMean, float[] batchVariance, float[] invStd) {
    checkForward(s, x, xOffset, residual, residualOffset, y, yOffset);
    Kernels.checkTraining(s, gamma, beta, epsilon, batchMean, batchVariance, invStd);
    k.impl().moments(x, xOffset, s.outer(), s.channels(), s.inner(), batchMean, batchVariance);
    Kernels.finishStatistics(s, epsilon, batchVariance, invStd);
    fused.normalizeRelu(x, xOffset, residual, residualOffset, y, yOffset, s.outer(), s.channels(), s.inner(), batchMean,
        invStd, gamma, beta);
  }

  /**
   * Inference: {@code y = max(0, gamma*(x - movingMean)/sqrt(movingVariance + eps) + beta + residual)}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param residual tensor added before the ReLU: {@code s.size()} floats from element offset {@code residualOffset}, or null for none; may be {@code y} at the same offset
   * @param residualOffset element offset of {@code residual}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param movingMean per-channel moving mean, {@code float[channels]}
   * @param movingVariance per-channel moving variance, {@code float[channels]}
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: {@code s.size()} floats from element offset {@code yOffset}; may be {@code x} or {@code residual} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   */
  public static void forwardInference(NormShape s, float[] x, int xOffset, float[] residual, int residualOffset,
                                      float[] gamma, float[] beta, float[] movingMean, float[] movingVariance, float epsilon,
                                      float[] y, int yOffset) {
    forwardInference(FUSED, s, x, xOffset, residual, residualOffset, gamma, beta, movingMean, movingVariance, epsilon, y, yOffset);
  }

  static void forwardInference(FusedReluSupport fused, NormShape s, float[] x, int xOffset, float[] residual,
                               int residualOffset, float[] gamma, float[] beta, float[] movingMean, float[] movingVariance,
                               float epsilon, float[] y, int yOffset) {
    checkForward(s, x, xOffset, residual, residualOffset, y, yOffset);
    Kernels.checkInference(s, gamma, beta, movingMean, movingVariance, epsilon);
    // Pooled, not a new array: a float[channels] every inference call (1 KB at 256 channels,
    // KernelMixAllocationTest), where BatchNorm's inference allocates nothing.
    float[] invStd = Scratch.borrow(s.channels());
    try {
      ScalarBatchNormSupport.invStd(movingVariance, epsilon, invStd, 0, s.channels());
      fused.normalizeRelu(x, xOffset, residual, residualOffset, y, yOffset, s.outer(), s.channels(), s.inner(), movingMean,
          invStd, gamma, beta);
    } finally {
      Scratch.release(invStd);
    }
  }

  /**
   * Backward of {@link #forwardTraining}: with {@code g = dy * [y > 0]}, {@code dResidual = g},
   * {@code dBeta = sum g}, {@code dGamma = sum g*xhat}, and {@code dx} the batch-norm backward of {@code g}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param y the forward's output (its sign gives the ReLU mask): {@code s.size()} floats from element offset {@code yOffset}
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: {@code s.size()} floats from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param batchMean per-channel batch mean the forward wrote, {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param dx output: gradient of the loss with respect to {@code x}: {@code s.size()} floats from element offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset (or {@code y})
   * @param dxOffset element offset of {@code dx}'s first float in the array, at least 0
   * @param dResidual output: gradient of the loss with respect to {@code residual}: {@code s.size()} floats from element offset {@code dResidualOffset}, or null when not wanted; may be {@code dy}, must not overlap {@code dx}, {@code x} or {@code y}
   * @param dResidualOffset element offset of {@code dResidual}'s first float in the array, at least 0
   * @param dGamma output: per-channel gradient with respect to {@code gamma}, {@code float[channels]}, or null when not wanted
   * @param dBeta output: per-channel gradient with respect to {@code beta}, {@code float[channels]}, or null when not wanted
   */
  public static void backward(NormShape s, float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset,
                              float[] gamma, float[] batchMean, float[] invStd, float[] dx, int dxOffset,
                              float[] dResidual, int dResidualOffset, float[] dGamma, float[] dBeta) {
    backward(FUSED, s, x, xOffset, y, yOffset, dy, dyOffset, gamma, batchMean, invStd, dx, dxOffset, dResidual,
        dResidualOffset, dGamma, dBeta);
  }

  static void backward(FusedReluSupport fused, NormShape s, float[] x, int xOffset, float[] y, int yOffset, float[] dy,
                       int dyOffset, float[] gamma, float[] batchMean, float[] invStd, float[] dx, int dxOffset,
                       float[] dResidual, int dResidualOffset, float[] dGamma, float[] dBeta) {
    checkBackwardTensors(s, x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset);
    Kernels.checkBackward(s, gamma, batchMean, invStd, dGamma, dBeta);
    float[] sumDy = Kernels.orTemporary(dBeta, s), sumDyXhat = Kernels.orTemporary(dGamma, s);
    if (fused.backwardRelu(x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset, s.outer(), s.channels(),
        s.inner(), batchMean, invStd, gamma, sumDy, sumDyXhat, s.countPerChannel())) {
      return;
    }
    fused.backwardReduceRelu(x, xOffset, y, yOffset, dy, dyOffset, s.outer(), s.channels(), s.inner(), batchMean, invStd,
        sumDy, sumDyXhat);
    fused.backwardApplyRelu(x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset, s.outer(),
        s.channels(), s.inner(), batchMean, invStd, gamma, sumDy, sumDyXhat, s.countPerChannel());
  }

  /** The tensor checks of the backward, shared with {@link ParallelBatchNorm#backwardRelu}. */
  static void checkBackwardTensors(NormShape s, float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset,
                                   float[] dx, int dxOffset, float[] dResidual, int dResidualOffset) {
    Kernels.checkBackwardArrays(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    Checks.tensor("y", y, yOffset, s);
    // Each dx element is written after its y is read, so dx may be y in place, but not shifted against it.
    Checks.noPartialOverlap("dx", dx, dxOffset, "y", y, yOffset, s);
    if (dResidual != null) {
      Checks.tensor("dResidual", dResidual, dResidualOffset, s);
      // dResidual = dy * [y > 0] is stored before x is read for dx, and both outputs are wanted: it may
      // replace dy (in place), nothing else.
      Checks.noPartialOverlap("dResidual", dResidual, dResidualOffset, "dy", dy, dyOffset, s);
      long size = s.size();
      Checks.disjoint("dResidual", dResidual, dResidualOffset, size, "dx", dx, dxOffset, size);
      Checks.disjoint("dResidual", dResidual, dResidualOffset, size, "x", x, xOffset, size);
      Checks.disjoint("dResidual", dResidual, dResidualOffset, size, "y", y, yOffset, size);
    }
  }

  /** The tensor checks of both forwards, shared with {@link ParallelBatchNorm}'s ReLU operations. */
  static void checkForward(NormShape s, float[] x, int xOffset, float[] residual, int residualOffset,
                           float[] y, int yOffset) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("y", y, yOffset, s);
    Checks.noPartialOverlap("y", y, yOffset, "x", x, xOffset, s);
    if (residual != null) {
      Checks.tensor("residual", residual, residualOffset, s);
      Checks.noPartialOverlap("y", y, yOffset, "residual", residual, residualOffset, s);
    }
  }
}
