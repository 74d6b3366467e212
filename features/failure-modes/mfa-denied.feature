@failure-mode @scenario-mfa-denied
Feature: MFA denied
  MFA is required to join and the user denies the Authenticator prompt; sign-in ends with AADSTS500121.
  Guide section: MFA or sign-in loops

  Scenario: MFA denied: the symptom
    Given the scenario "mfa-denied"
    When the user tries to join the PC as the scenario describes
    Then the sign-in page shows AADSTS500121
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune
    And the admin sees error 500121 in the sign-in log
    And portal.office.com sign-in succeeds

  Scenario: MFA denied: the fix repairs it
    Given the scenario "mfa-denied"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
