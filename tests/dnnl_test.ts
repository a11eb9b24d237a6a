// native/dnnl.ts passes oneDNN's 2.x descriptors as byte arrays of the header's sizes and
// names its enums by value. A C program built against the installed header prints the same
// sizes and values, and they must match. Needs a C compiler and oneDNN's header (Debian's
// libdnnl-dev, which CI installs); without them the test is skipped, saying why.

import {
  alg,
  arg,
  dataType,
  formatAny,
  ISA_AVX512_CORE_BF16,
  normFlags,
  prop,
  query,
  SIZES,
} from "@lfdiff/native/dnnl.ts";
import { assertEquals } from "./assert.ts";
import { cCompiler, runC } from "./c_probe.ts";

const HEADER = "/usr/include/dnnl.h";
const VERSION_HEADER = "/usr/include/oneapi/dnnl/dnnl_version.h";

const sizes: Record<keyof typeof SIZES, string> = {
  memoryDesc: "dnnl_memory_desc_t",
  convolution: "dnnl_convolution_desc_t",
  eltwise: "dnnl_eltwise_desc_t",
  binary: "dnnl_binary_desc_t",
  pooling: "dnnl_pooling_v2_desc_t",
  layerNorm: "dnnl_layer_normalization_desc_t",
  softmax: "dnnl_softmax_v2_desc_t",
  matmul: "dnnl_matmul_desc_t",
  resampling: "dnnl_resampling_desc_t",
};
const enums: [string, number][] = [
  ["dnnl_f32", dataType.f32],
  ["dnnl_bf16", dataType.bf16],
  ["dnnl_cpu_isa_avx512_core_bf16", ISA_AVX512_CORE_BF16],
  ["dnnl_format_tag_any", formatAny],
  ["dnnl_forward_training", prop.forwardTraining],
  ["dnnl_forward_inference", prop.forwardInference],
  ["dnnl_backward", prop.backward],
  ["dnnl_backward_data", prop.backwardData],
  ["dnnl_backward_weights", prop.backwardWeights],
  ["dnnl_convolution_direct", alg.convolutionDirect],
  ["dnnl_convolution_auto", alg.convolutionAuto],
  ["dnnl_eltwise_relu", alg.eltwiseRelu],
  ["dnnl_eltwise_tanh", alg.eltwiseTanh],
  ["dnnl_eltwise_gelu_erf", alg.eltwiseGeluErf],
  ["dnnl_eltwise_abs", alg.eltwiseAbs],
  ["dnnl_eltwise_sqrt", alg.eltwiseSqrt],
  ["dnnl_eltwise_linear", alg.eltwiseLinear],
  ["dnnl_eltwise_logistic", alg.eltwiseLogistic],
  ["dnnl_eltwise_exp", alg.eltwiseExp],
  ["dnnl_eltwise_swish", alg.eltwiseSwish],
  ["dnnl_eltwise_log", alg.eltwiseLog],
  ["dnnl_eltwise_clip", alg.eltwiseClip],
  ["dnnl_eltwise_pow", alg.eltwisePow],
  ["dnnl_eltwise_relu_use_dst_for_bwd", alg.eltwiseReluUseDst],
  ["dnnl_eltwise_logistic_use_dst_for_bwd", alg.eltwiseLogisticUseDst],
  ["dnnl_binary_add", alg.binaryAdd],
  ["dnnl_binary_mul", alg.binaryMul],
  ["dnnl_binary_div", alg.binaryDiv],
  ["dnnl_binary_sub", alg.binarySub],
  ["dnnl_pooling_max", alg.poolingMax],
  ["dnnl_pooling_avg_exclude_padding", alg.poolingAvgExcludePadding],
  ["dnnl_softmax_accurate", alg.softmaxAccurate],
  ["dnnl_resampling_nearest", alg.resamplingNearest],
  ["dnnl_resampling_linear", alg.resamplingLinear],
  ["DNNL_ARG_SRC", arg.src],
  ["DNNL_ARG_SRC_1", arg.src1],
  ["DNNL_ARG_DST", arg.dst],
  ["DNNL_ARG_WEIGHTS", arg.weights],
  ["DNNL_ARG_BIAS", arg.bias],
  ["DNNL_ARG_MEAN", arg.mean],
  ["DNNL_ARG_VARIANCE", arg.variance],
  ["DNNL_ARG_SCALE", arg.scale],
  ["DNNL_ARG_SHIFT", arg.shift],
  ["DNNL_ARG_WORKSPACE", arg.workspace],
  ["DNNL_ARG_SCRATCHPAD", arg.scratchpad],
  ["DNNL_ARG_DIFF_SRC", arg.diffSrc],
  ["DNNL_ARG_DIFF_DST", arg.diffDst],
  ["DNNL_ARG_DIFF_WEIGHTS", arg.diffWeights],
  ["DNNL_ARG_DIFF_BIAS", arg.diffBias],
  ["DNNL_ARG_DIFF_SCALE", arg.diffScale],
  ["DNNL_ARG_DIFF_SHIFT", arg.diffShift],
  ["DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1", arg.postOp0Src1],
  ["dnnl_query_impl_info_str", query.implInfoStr],
  ["dnnl_query_src_md", query.srcMd],
  ["dnnl_query_diff_src_md", query.diffSrcMd],
  ["dnnl_query_weights_md", query.weightsMd],
  ["dnnl_query_diff_weights_md", query.diffWeightsMd],
  ["dnnl_query_dst_md", query.dstMd],
  ["dnnl_query_diff_dst_md", query.diffDstMd],
  ["dnnl_query_workspace_md", query.workspaceMd],
  ["dnnl_query_scratchpad_md", query.scratchpadMd],
  ["dnnl_use_global_stats", normFlags.useGlobalStats],
  ["dnnl_use_scale", normFlags.useScale],
  ["dnnl_use_shift", normFlags.useShift],
];

const cc = await cCompiler();
const version = await Deno.readTextFile(VERSION_HEADER).catch(() => "");
const major = /#define DNNL_VERSION_MAJOR (\d+)/.exec(version)?.[1];
const why = !cc
  ? "no C compiler"
  : !major
  ? `no ${HEADER} (apt-get install libdnnl-dev)`
  : major !== "2"
  ? `the installed header is oneDNN ${major}.x; the bindings are for 2.x`
  : "";
if (why) console.error(`dnnl_test: skipped, ${why}`);

Deno.test({
  name: "oneDNN bindings: struct sizes and enum values match the installed header",
  ignore: why !== "",
  async fn() {
    const lines = [
      ...Object.entries(sizes).map(([k, t]) => `printf("\\"${k}\\": %zu,\\n", sizeof(${t}));`),
      ...enums.map(([name]) => `printf("\\"${name}\\": %ld,\\n", (long)(${name}));`),
    ];
    const c = JSON.parse(
      await runC(
        cc!,
        `#include <dnnl.h>\n#include <stdio.h>\nint main(void) {\n  printf("{\\n");\n  ${
          lines.join("\n  ")
        }\n  printf("\\"end\\": 0}\\n");\n  return 0;\n}\n`,
      ),
    );
    assertEquals(Object.fromEntries(Object.keys(sizes).map((k) => [k, c[k]])), { ...SIZES });
    assertEquals(
      Object.fromEntries(enums.map(([name]) => [name, c[name]])),
      Object.fromEntries(enums),
    );
  },
});
