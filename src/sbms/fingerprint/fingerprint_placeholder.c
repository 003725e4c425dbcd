/* placeholder so the component library exists; replaced by the component's sources. */
typedef int iop_placeholder_fingerprint;
