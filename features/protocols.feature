Feature: Autoregistration with multiple protocol support
  New phones are unknown, so the administrator sets the enterprise parameter
  Auto Registration Phone Protocol (SCCP by default). Phones that speak both
  SIP and SCCP autoregister only with the parameter's protocol; phones that
  speak one protocol autoregister with it whatever the parameter says. Device
  Defaults give the firmware load for each protocol. A mixed batch is done in
  two steps: SCCP phones first, then SIP phones (checklist steps 1 and 9).

  Background:
    Given the sample cluster

  Scenario: The protocol parameter is SCCP by default and can be set to SIP
    Then the autoregistration protocol is SCCP
    When "bob" sets the autoregistration protocol to SIP
    Then the autoregistration protocol is SIP
    And the history records "cluster.protocol_set" by "bob"
    When "bob" sets the autoregistration protocol to SIP
    Then nothing new is recorded

  Scenario: The protocol parameter is SIP or SCCP
    When "bob" sets the autoregistration protocol to H323
    Then the change is refused because it is invalid
    And the refusal says "use SIP or SCCP"
    And the autoregistration protocol is SCCP

  Scenario: A dual-protocol phone autoregisters with the parameter's protocol only
    Given "alice" sets the autoregistration protocol to SIP
    And autoregistration is open by "alice" because "SIP phones"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because it speaks the wrong protocol
    And the refusal says "the Auto Registration Phone Protocol is SIP"
    And the phone is told "Wrong protocol for autoreg"
    When phone SEP00112233AABB of model 7961 registers over SIP from sip:SEP00112233AABB@10.0.0.5:5060
    Then it is given directory number 1000
    And phone SEP00112233AABB is a 7961 speaking SIP

  Scenario Outline: Phones that speak both protocols follow the parameter
    Given "alice" sets the autoregistration protocol to SIP
    And autoregistration is open by "alice" because "SIP phones"
    When phone SEP00112233AABB of model <model> registers over SCCP from 10.0.0.5
    Then it is refused because it speaks the wrong protocol
    When phone SEP00112233AABB of model <model> registers over SIP from 10.0.0.5
    Then it is given directory number 1000

    Examples:
      | model |
      | 7905  |
      | 7911  |
      | 7912  |
      | 7940  |
      | 7941  |
      | 7960  |
      | 7970  |
      | 7971  |

  Scenario: The 7902 speaks only SCCP and autoregisters over SCCP while the parameter says SIP
    Given "alice" sets the autoregistration protocol to SIP
    And "alice" sets the Device Defaults of model 7902 to load "CP7902080002SCCP060817A" for SCCP and "" for SIP
    And autoregistration is open by "alice" because "mixed batch"
    When phone SEP00112233AABB of model 7902 registers over SCCP from 10.0.0.5
    Then it is given directory number 1000
    And phone SEP00112233AABB is a 7902 speaking SCCP
    And phone SEP00112233AABB autoregistered over SCCP with firmware "CP7902080002SCCP060817A"
    When phone SEP00112233AABC of model 7902 registers over SIP from 10.0.0.6
    Then it is refused because it speaks the wrong protocol
    And the refusal says "model 7902 does not speak SIP"

  Scenario: A SIP-only phone autoregisters over SIP while the parameter says SCCP
    Given autoregistration is open by "alice" because "new 8961s"
    When phone SEP00112233AABB of model 8961 registers over SIP from 10.0.0.5
    Then it is given directory number 1000
    And phone SEP00112233AABB is a 8961 speaking SIP

  Scenario Outline: A phone whose model is not in the catalogue is refused
    Given autoregistration is open by "alice" because "bulk add"
    When phone SEP00112233AABB of model <model> registers over SCCP from 10.0.0.5
    Then it is refused because its model is unknown
    And the refusal says "<model>"
    And the refusal says "is not in the catalogue"
    And the phone is told "Unknown device model"
    And phone SEP00112233AABB is unknown

    Examples:
      | model |
      | 1234  |
      | 7999  |
      | ATA186 |

  Scenario: Device Defaults give the firmware load of the protocol the phone autoregisters with
    Given "alice" sets the Device Defaults of model 7961 to load "SCCP41.9-4-2SR3-1S" for SCCP and "SIP41.9-4-2SR3-1S" for SIP
    And autoregistration is open by "alice" because "SCCP phones"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then phone SEP00112233AABB autoregistered over SCCP with firmware "SCCP41.9-4-2SR3-1S"
    And "alice" closes autoregistration because "SCCP done"
    When "alice" sets the autoregistration protocol to SIP
    And "alice" opens autoregistration because "SIP phones"
    And phone SEP00112233AABC of model 7961 registers over SIP from 10.0.0.6
    Then phone SEP00112233AABC autoregistered over SIP with firmware "SIP41.9-4-2SR3-1S"

  Scenario: A mixed batch: SCCP phones first, then SIP phones (checklist steps 1 and 9)
    When "alice" sets the autoregistration protocol to SCCP
    Then nothing new is recorded
    Given autoregistration is open for 60 minutes by "alice" because "SCCP batch"
    When 3 phones of model 7961 register over SCCP
    Then they are given directory numbers 1000, 1001 and 1002
    When phone SEP0000000000B1 of model 7971 registers over SIP from 10.0.0.50
    Then it is refused because it speaks the wrong protocol
    When "alice" closes autoregistration because "SCCP batch done"
    And "alice" sets the autoregistration protocol to SIP
    And "alice" opens autoregistration for 60 minutes because "SIP batch"
    Then the open window is W2, opened by "alice" because "SIP batch"
    And window W1 was opened while the protocol was SCCP
    And window W2 was opened while the protocol was SIP
    When phone SEP0000000000B1 of model 7971 registers over SIP from 10.0.0.50
    Then it is given directory number 1003
    When 2 phones of model 7941 register over SIP
    Then they are given directory numbers 1004 and 1005
    When phone SEP0000000000B2 of model 7941 registers over SCCP from 10.0.0.51
    Then it is refused because it speaks the wrong protocol
    And phone SEP0000CAFE0001 keeps directory number 1000
    And phone SEP0000CAFE0001 is a 7961 speaking SCCP
    When phone SEP0000CAFE0001 registers again over SCCP from 10.0.0.99
    Then phone SEP0000CAFE0001 keeps directory number 1000

  Scenario: A known phone must register with the protocol it was set up with
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    When phone SEP00112233AABB registers again over SIP from 10.0.0.5
    Then it is refused because it speaks the wrong protocol
    And the refusal says "configured for SCCP, not SIP"
    And phone SEP00112233AABB keeps directory number 1000
    And phone SEP00112233AABB is a 7961 speaking SCCP
