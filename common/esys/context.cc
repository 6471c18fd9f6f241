#include "common/esys/context.h"

#include "common/esys/errors.h"

namespace attest::esys {

Result<Tcti> Tcti::Open(const std::string& conf) {
  TSS2_TCTI_CONTEXT* c = nullptr;
  TSS2_RC rc = Tss2_TctiLdr_Initialize(conf.c_str(), &c);
  if (rc != TSS2_RC_SUCCESS || c == nullptr) {
    return TssError(rc, "loading TCTI \"" + conf + "\"", errc::tcti_error);
  }
  return Tcti(c);
}

Result<EsysContext> EsysContext::Open(const std::string& tcti_conf) {
  auto tcti = Tcti::Open(tcti_conf);
  if (!tcti) return tcti.error();
  ESYS_CONTEXT* c = nullptr;
  TSS2_RC rc = Esys_Initialize(&c, tcti->get(), nullptr);
  if (rc != TSS2_RC_SUCCESS) {
    return TssError(rc, "Esys_Initialize over TCTI \"" + tcti_conf + "\"", errc::tcti_error);
  }
  return EsysContext(std::move(tcti).value(), c);
}

}  // namespace attest::esys
